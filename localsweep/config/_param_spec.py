"""Read ``parameters``: infer each distribution as wandb does, fill defaults, check bounds.

wandb's engine infers a parameter's distribution by trying its schema's ``anyOf``
branches in order; every branch forbids extra keys, so at most one shape fits. Here
the same outcome comes from looking at which keys are present, which lets the
messages say which key is wrong instead of "parameter x is malformed".
"""

from __future__ import annotations

import math
import re
from typing import Any

from localsweep.config._checks import (
    Checker,
    as_choices,
    non_string_key,
    number_from_string,
    show,
    suggest,
    yaml_float,
    yaml_value,
)
from localsweep.config._param_hints import key_hint, misspelt_keys, not_a_mapping_hint
from localsweep.config._types import Distribution, Parameter, ParamPath

__all__ = ["GRID_DISTRIBUTIONS", "check_grid", "parse_parameters", "yaml_path"]

D = Distribution

#: wandb's pattern for parameter names, at every nesting level.
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")

_BOUNDS = ("min", "max")
#: The keys each distribution takes besides ``distribution`` (the schema forbids others).
ALLOWED_KEYS: dict[Distribution, tuple[str, ...]] = {
    D.CONSTANT: ("value",),
    D.CATEGORICAL: ("values",),
    D.CATEGORICAL_W_PROBABILITIES: ("values", "probabilities"),
    D.INT_UNIFORM: _BOUNDS,
    D.UNIFORM: _BOUNDS,
    D.Q_UNIFORM: (*_BOUNDS, "q"),
    D.LOG_UNIFORM: _BOUNDS,
    D.LOG_UNIFORM_VALUES: _BOUNDS,
    D.Q_LOG_UNIFORM: (*_BOUNDS, "q"),
    D.Q_LOG_UNIFORM_VALUES: (*_BOUNDS, "q"),
    D.INV_LOG_UNIFORM: _BOUNDS,
    D.INV_LOG_UNIFORM_VALUES: _BOUNDS,
    D.NORMAL: ("mu", "sigma"),
    D.Q_NORMAL: ("mu", "sigma", "q"),
    D.LOG_NORMAL: ("mu", "sigma"),
    D.Q_LOG_NORMAL: ("mu", "sigma", "q"),
    D.BETA: ("a", "b"),
    D.Q_BETA: ("a", "b", "q"),
}

#: Defaults as wandb's schema writes them; the int/float type matters for ``q``
#: (an int ``q`` makes quantized samples ints), so the literals are kept exactly.
_DEFAULTS: dict[Distribution, dict[str, int | float]] = {
    D.NORMAL: {"mu": 0.0, "sigma": 1.0},
    D.LOG_NORMAL: {"mu": 0.0, "sigma": 1.0},
    D.Q_NORMAL: {"mu": 0, "sigma": 1, "q": 1.0},
    D.Q_LOG_NORMAL: {"mu": 0, "sigma": 1, "q": 1.0},
    D.BETA: {"a": 1, "b": 1},
    D.Q_BETA: {"a": 1, "b": 1, "q": 1.0},
    D.Q_UNIFORM: {"q": 1.0},
    D.Q_LOG_UNIFORM: {"q": 1.0},
    D.Q_LOG_UNIFORM_VALUES: {"q": 1.0},
}

#: Distributions whose min/max are exponents of e, with their ``*_values`` replacement.
DEPRECATED: dict[Distribution, Distribution] = {
    D.LOG_UNIFORM: D.LOG_UNIFORM_VALUES,
    D.Q_LOG_UNIFORM: D.Q_LOG_UNIFORM_VALUES,
    D.INV_LOG_UNIFORM: D.INV_LOG_UNIFORM_VALUES,
}

_VALUE_BOUNDS = (D.LOG_UNIFORM_VALUES, D.Q_LOG_UNIFORM_VALUES, D.INV_LOG_UNIFORM_VALUES)

#: What wandb's grid search can enumerate.
GRID_DISTRIBUTIONS = (D.CATEGORICAL, D.CONSTANT, D.INT_UNIFORM, D.Q_UNIFORM)

#: Above this exponent e**max is astronomically large (e**50 is about 5e21).
_EXPONENT_TOO_LARGE = 50.0
#: A positive exponent this small only nudges values past 1, which nobody means.
_EXPONENT_TOO_SMALL = 1e-3


def yaml_path(path: ParamPath) -> str:
    """Where a parameter sits in the YAML: ``parameters.opt.parameters.lr``."""
    return "parameters." + ".parameters.".join(path)


def parse_parameters(block: Any, where: str, prefix: ParamPath, check: Checker) -> list[Parameter]:
    """Every parameter under one ``parameters:`` block, in wandb's order (sorted at each level)."""
    node = check.mapping(block, where, "parameter names mapped to their specs")
    if node is None:
        return []
    if not node:
        check.error(where, "must name at least one parameter")
        return []
    out: list[Parameter] = []
    names = sorted(k for k in node if isinstance(k, str))
    for name in names:
        path = (*prefix, name)
        here = yaml_path(path)
        if not NAME_RE.fullmatch(name):
            check.error(
                here,
                f"parameter name {name!r} is not allowed: names start with an ASCII letter "
                "(a-z, A-Z) or underscore and contain only those, digits, `_`, `.` and `-`",
            )
        out.extend(_parse_one(node[name], path, here, check))
    return out


def _parse_one(spec: Any, path: ParamPath, here: str, check: Checker) -> list[Parameter]:
    hint = not_a_mapping_hint(spec)
    if hint:
        check.error(here, hint)
        return []
    if not isinstance(spec, dict):
        # As YAML spells the value: `value: None` would be the string "None".
        given = "nothing (an empty value)" if spec is None else show(spec)
        check.error(
            here,
            f"must be a mapping such as `value: {yaml_value(spec)}` (a constant), "
            f"`values: [...]`, `min:`/`max:`, `distribution: ...` or `parameters:`, not {given}",
        )
        return []
    for key in spec:
        if not isinstance(key, str):
            check.error(f"{here}.{key}", non_string_key(key))
    if "parameters" in spec:
        extra = [k for k in spec if k != "parameters"]
        for key in extra:
            check.error(
                f"{here}.{key}",
                "a block with nested `parameters:` takes no other keys; move this key "
                "into a parameter of its own",
            )
        return parse_parameters(spec["parameters"], f"{here}.parameters", path, check)
    dist = _distribution(spec, path, here, check)
    if dist is None:
        return []
    return [p] if (p := _build(dist, spec, path, here, check)) is not None else []


def _distribution(
    spec: dict[str, Any], path: ParamPath, here: str, check: Checker
) -> Distribution | None:
    """The distribution ``spec`` names or, as wandb infers it, implies."""
    if "distribution" in spec:
        name = spec["distribution"]
        try:
            return Distribution(name)
        except ValueError:
            names = [d.value for d in Distribution]
            hint = _distribution_hint(name, spec) if isinstance(name, str) else ""
            check.error(
                f"{here}.distribution",
                f"unknown distribution {show(name)}{hint}; known: {', '.join(names)}",
            )
            return None
    if "values" in spec:
        return D.CATEGORICAL_W_PROBABILITIES if "probabilities" in spec else D.CATEGORICAL
    if "value" in spec:
        return D.CONSTANT
    if "min" in spec and "max" in spec:
        return _infer_from_bounds(spec, path, here, check)
    present = ", ".join(f"`{k}`" for k in spec) or "nothing"
    hint = ""
    misspelt = misspelt_keys(spec)
    if misspelt:
        meant = ", ".join(f"`{close}` for `{key}`" for key, close in misspelt)
        hint = f" (did you mean {meant}?)"
    elif "mu" in spec or "sigma" in spec:
        hint = " (for a normal distribution add `distribution: normal`)"
    elif "a" in spec or "b" in spec:
        hint = " (for a beta distribution add `distribution: beta`)"
    elif "min" in spec or "max" in spec:
        hint = " (a range needs both `min` and `max`)"
    check.error(
        here,
        f"cannot tell which distribution this is from {present}{hint}; write `values: [...]`, "
        "`value: ...`, `min:` and `max:`, or name a `distribution:`",
    )
    return None


def _distribution_hint(name: str, spec: dict[str, Any]) -> str:
    """`` (did you mean `x`?)`` for a misspelt distribution name.

    A near miss of a log-uniform name has two candidates that differ in what min/max
    mean: ``log_uniform`` takes exponents of e, ``log_uniform_values`` the values
    themselves. The bounds decide, by the rule of the "look like values" warning, so
    that following the hint does not lead straight to that warning.
    """
    hint = suggest(name, [d.value for d in Distribution])
    close = hint[len(" (did you mean `") : -len("`?)")] if hint else ""
    twins = {d.value: (d, v) for d, v in DEPRECATED.items()}
    twins.update({v.value: (d, v) for d, v in DEPRECATED.items()})
    if close not in twins:
        return hint
    exponents, values = (d.value for d in twins[close])
    lo, hi = _plain_number(spec.get("min")), _plain_number(spec.get("max"))
    if lo is None or hi is None:
        return (
            f" (did you mean `{values}`, whose min/max are the values themselves, or "
            f"`{exponents}`, whose min/max are exponents of e?)"
        )
    if looks_like_values(lo, hi):
        return (
            f" (did you mean `{values}`? min {lo!r} and max {hi!r} look like values; "
            f"`{exponents}` would read them as exponents of e)"
        )
    # Values on a log scale must be positive: then only the exponent form fits.
    other = f"; for values from {lo!r} to {hi!r} write `{values}`" if lo > 0 else ""
    return (
        f" (did you mean `{exponents}`? it reads min {lo!r} and max {hi!r} as exponents of e, "
        f"e^{lo!r} = {_exp(lo):.6g} to e^{hi!r} = {_exp(hi):.6g}{other})"
    )


def _plain_number(value: Any) -> float | None:
    """``value`` as a number if it is one or spells one, without recording anything."""
    if isinstance(value, str):
        return number_from_string(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _infer_from_bounds(
    spec: dict[str, Any], path: ParamPath, here: str, check: Checker
) -> Distribution | None:
    lo = check.number(spec, "min", f"{here}.min")
    hi = check.number(spec, "max", f"{here}.max")
    if lo is None or hi is None:
        return None
    if isinstance(lo, int) and isinstance(hi, int):
        return D.INT_UNIFORM
    if isinstance(lo, float) and isinstance(hi, float):
        return D.UNIFORM
    if len(path) > 1:
        # wandb's client checks only top-level parameters; the engine reads mixed
        # bounds as floats, so nested ones stay valid.
        return D.UNIFORM
    check.error(
        here,
        f"min ({lo!r}) and max ({hi!r}) mix an integer and a float, which wandb rejects as "
        "ambiguous; write both as floats (e.g. "
        f"`min: {float(lo)!r}`, `max: {float(hi)!r}`) or add `distribution: uniform` for "
        "real values, or write both as integers for `int_uniform`",
    )
    return None


def _build(
    dist: Distribution, spec: dict[str, Any], path: ParamPath, here: str, check: Checker
) -> Parameter | None:
    errors_before = len(check.violations)
    allowed = ALLOWED_KEYS[dist]
    for key in spec:
        if isinstance(key, str) and key not in allowed and key != "distribution":
            check.error(
                f"{here}.{key}",
                f"`{key}` does not belong to a {dist.value} parameter "
                f"(it takes {', '.join(f'`{k}`' for k in allowed)}){key_hint(dist, key)}",
            )
    missing = [k for k in _required(dist) if k not in spec]
    for key in missing:
        check.error(f"{here}.{key}", f"a {dist.value} parameter needs `{key}`")
    if missing:
        return None

    fields: dict[str, Any] = dict(_DEFAULTS.get(dist, {}))
    if dist is D.CONSTANT:
        fields["value"] = spec["value"]
        _warn_numeric_string(spec["value"], f"{here}.value", check)
    elif dist in (D.CATEGORICAL, D.CATEGORICAL_W_PROBABILITIES):
        _read_values(spec, here, dist, fields, check)
    for key in ("min", "max", "q", "mu", "sigma", "a", "b"):
        if key in spec and key in allowed:
            fields[key] = check.number(spec, key, f"{here}.{key}")
    if len(check.violations) > errors_before:
        return None
    if not _check_numbers(dist, fields, here, check):
        return None
    if dist in DEPRECATED:
        _warn_deprecated(dist, fields["min"], fields["max"], path, here, check)
    params = {k: v for k, v in fields.items() if k != "distribution"}
    return Parameter(path=path, distribution=dist, **params)


def _required(dist: Distribution) -> tuple[str, ...]:
    if dist is D.CONSTANT:
        return ("value",)
    if dist is D.CATEGORICAL:
        return ("values",)
    if dist is D.CATEGORICAL_W_PROBABILITIES:
        return ("values", "probabilities")
    if "min" in ALLOWED_KEYS[dist]:
        return _BOUNDS
    return ()


def _read_values(
    spec: dict[str, Any], here: str, dist: Distribution, fields: dict[str, Any], check: Checker
) -> None:
    values = spec["values"]
    if not isinstance(values, list):
        check.error(f"{here}.values", f"must be a list, such as `values: {as_choices(values)}`")
        return
    if not values:
        check.error(f"{here}.values", "must list at least one value")
        return
    for i, v in enumerate(values):
        _warn_numeric_string(v, f"{here}.values[{i}]", check)
    fields["values"] = tuple(values)
    if dist is not D.CATEGORICAL_W_PROBABILITIES:
        return
    probs = spec["probabilities"]
    where = f"{here}.probabilities"
    if not isinstance(probs, list) or not probs:
        check.error(where, "must be a non-empty list of numbers, one per value")
        return
    read: list[float] = []
    for i in range(len(probs)):
        p = check.number(probs, i, f"{where}[{i}]")
        if p is None:
            continue
        if p < 0:
            check.error(f"{where}[{i}]", f"must be at least 0, not {p!r}")
            continue
        read.append(p)
    if len(read) != len(probs):
        return
    if len(probs) != len(values):
        check.error(
            where,
            f"has {len(probs)} entries but `values` has {len(values)}; give one probability "
            "per value",
        )
        return
    total = sum(read)
    # numpy's isclose(total, 1.0) (rtol 1e-5, atol 1e-8), as the engine checks it.
    if not abs(total - 1.0) <= 1e-08 + 1e-05:
        check.error(
            where,
            f"must sum to 1, but they sum to {total!r}; scale them, e.g. "
            f"{[round(p / total, 6) for p in read] if total > 0 else 'equal weights'}",
        )
        return
    fields["probabilities"] = tuple(read)


def _check_numbers(dist: Distribution, f: dict[str, Any], here: str, check: Checker) -> bool:
    ok = True
    lo, hi = f.get("min"), f.get("max")
    if dist is D.INT_UNIFORM and lo is not None and hi is not None:
        for key, v in (("min", lo), ("max", hi)):
            if not isinstance(v, int):
                check.error(
                    f"{here}.{key}",
                    f"int_uniform needs whole-number bounds written without a decimal point "
                    f"(e.g. `{key}: {int(v)}`), not {v!r}; for real values use "
                    "`distribution: uniform`",
                )
                ok = False
    if dist in _VALUE_BOUNDS and lo is not None and lo <= 0:
        check.error(
            f"{here}.min",
            f"must be greater than 0 for {dist.value} (it is a value on a log scale), not {lo!r}",
        )
        ok = False
    if lo is not None and hi is not None and lo >= hi:
        if lo == hi:
            fix = f"for a fixed value write `value: {lo!r}` instead"
        else:
            fix = f"swap them (`min: {hi!r}`, `max: {lo!r}`)"
        check.error(f"{here}.max", f"max ({hi!r}) must be greater than min ({lo!r}); {fix}")
        ok = False
    q = f.get("q")
    if q is not None and q <= 0:
        check.error(f"{here}.q", f"the quantization step must be greater than 0, not {q!r}")
        ok = False
    for key in ("sigma", "a", "b"):
        v = f.get(key)
        if v is None:
            continue
        if v < 0:
            check.error(f"{here}.{key}", f"must be at least 0, not {v!r}")
            ok = False
        elif v == 0:
            check.warn(
                f"{here}.{key}",
                f"{key} is 0, which wandb accepts but which makes every sample NaN",
            )
    return ok


def _warn_deprecated(
    dist: Distribution, lo: float, hi: float, path: ParamPath, here: str, check: Checker
) -> None:
    replacement = DEPRECATED[dist]
    check.warn(
        here,
        f"{dist.value} is deprecated by wandb: its min/max are exponents of e. Use "
        f"{replacement.value} to give the limit values themselves.",
    )
    if looks_like_values(lo, hi):
        exp_lo, exp_hi = _exp(lo), _exp(hi)
        if math.isfinite(exp_hi):
            keep = (
                f"to keep what is written, the equivalent is `distribution: "
                f"{replacement.value}`, `min: {exp_lo:.6g}`, `max: {exp_hi:.6g}`."
            )
        else:  # no finite max says the same: the config would be refused
            keep = f"as written, e^{hi!r} is beyond the largest float and samples overflow."
        check.warn(
            here,
            f"min {lo!r} and max {hi!r} look like values, not exponents: as written this "
            f"samples from e^{lo!r} = {exp_lo:.6g} to e^{hi!r} = {exp_hi:.6g}. For values from "
            f"{lo!r} to {hi!r} write `distribution: {replacement.value}` with `min: {lo!r}`, "
            f"`max: {hi!r}`; {keep}",
        )


def looks_like_values(lo: float, hi: float) -> bool:
    """Whether log_uniform bounds ``lo``/``hi`` were probably meant as values, not exponents.

    Exponent ranges people mean are like -9.2..-2.3 (1e-4..0.1). Bounds that are
    both in (0, 1], a positive min below 0.001, or a max above 50 (e**50 is about
    5e21) are almost certainly values written in the wrong place.
    """
    if hi > _EXPONENT_TOO_LARGE:
        return True
    return lo > 0 and (hi <= 1 or lo < _EXPONENT_TOO_SMALL)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _warn_numeric_string(value: Any, where: str, check: Checker) -> None:
    """Flag a choice that YAML 1.1 read as text though it was surely meant as a number.

    Only exponent forms (``1e-5``) are flagged: a quoted ``"0.5"`` is deliberate.
    """
    if isinstance(value, str) and "e" in value.lower():
        number = number_from_string(value)
        if number is not None:
            check.warn(
                where,
                f"{value!r} is a string, so runs get the text {value!r}, not a number "
                "(YAML 1.1 reads exponents without a dot and a signed exponent as text); "
                f"write {yaml_float(number)} to pass a number",
            )


def check_grid(params: list[Parameter], check: Checker, *, bounded: bool = True) -> None:
    """Record a violation for every parameter a grid cannot enumerate (``bounded``: nor
    one of more values than it enumerates)."""
    for p in params:
        here = yaml_path(p.path)
        if p.distribution in GRID_DISTRIBUTIONS:
            too_many = None
            if bounded and p.distribution in (D.INT_UNIFORM, D.Q_UNIFORM):
                # Imported here: numpy's import costs `validate` a fifth of a second.
                from localsweep.config._distributions import too_many_grid_values

                too_many = too_many_grid_values(p)
            if too_many is not None:
                check.error(here, too_many)
            continue
        if p.distribution is D.CATEGORICAL_W_PROBABILITIES:
            check.error(
                here,
                "grid search tries every value, so it cannot use `probabilities`; remove "
                "them or use `method: random`",
            )
            continue
        example = ""
        if p.min is not None and p.max is not None:
            example = f", e.g. `values: [{p.min!r}, ..., {p.max!r}]`"
        check.error(
            here,
            f"grid search cannot enumerate a {p.distribution.value} distribution; grid "
            "accepts categorical (`values:`), constant (`value:`), int_uniform (integer "
            "`min`/`max`) and q_uniform. List the values to try with `values:`"
            f"{example}, or use `method: random` or `bayes`",
        )

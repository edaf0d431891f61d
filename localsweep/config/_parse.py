"""Parse and validate a wandb sweep config into a :class:`SweepConfig`.

The rules are wandb's: its sweep schema (``sweeps/config/schema.json``), the checks
its engine adds (min < max, probabilities), and the check its client adds before
upload (top-level min/max of mixed int and float are ambiguous). Where localsweep
is stricter or more lenient, ``docs/config.md`` says so.

Every violation is collected before anything is raised, so a user fixes a config in
one round.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from localsweep.config._checks import Checker, non_string_key, plain, show
from localsweep.config._command import command_spelling, read_command
from localsweep.config._early_stopping import KEYS as _EARLY_STOPPING_KEYS
from localsweep.config._early_stopping import read_early_stopping
from localsweep.config._param_spec import check_grid, parse_parameters
from localsweep.config._schedule import check_custom, read_metric, read_metrics, read_scheduler
from localsweep.config._types import Hyperband, Method, Metric, Options, Parameter, SweepConfig
from localsweep.config._yaml_file import parse_config_text, parse_error_text, read_config_text
from localsweep.errors import ConfigError, Violation

__all__ = ["load_config", "parse_config"]

log = logging.getLogger(__name__)

#: The extension key for localsweep's own options; wandb's schema has no such key.
EXTENSION_KEY = "localsweep"

#: wandb's top-level keys (its schema forbids any other) plus our extension key.
TOP_LEVEL_KEYS = (
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "run_cap",
    "program",
    "command",
    "name",
    "description",
    "project",
    "entity",
    "job",
    "image_uri",
    "apiVersion",
    "kind",
    "controller",
    "scheduler",
    "metrics",
    EXTENSION_KEY,
)
_STRING_KEYS = (
    "program",
    "name",
    "description",
    "project",
    "entity",
    "job",
    "image_uri",
    "apiVersion",
)
_METHODS = ("grid", "random", "bayes", "custom")
_SAMPLERS = ("auto", "tpe", "gp", "gp-numpy")
_HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> SweepConfig:
    """Read a sweep config from a YAML or JSON file, or parse a mapping directly.

    A file named ``*.json`` is read as JSON, anything else as YAML (which also reads
    JSON). Raises :class:`~localsweep.errors.ConfigError` if the file cannot be read or
    parsed, or the config is invalid.

    >>> load_config({"method": "grid", "parameters": {"lr": {"values": [0.1]}}}).method
    <Method.GRID: 'grid'>
    """
    if isinstance(source, Mapping):
        return parse_config(source)
    path = Path(source)
    text = read_config_text(path)
    try:
        data, repeated = parse_config_text(text, is_json=path.suffix.lower() == ".json")
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(
            [Violation("", f"cannot parse {str(path)!r}: {parse_error_text(exc, path, text)}")]
        ) from exc
    if data is None:
        raise ConfigError([Violation("", f"{str(path)!r} is empty")])
    if not isinstance(data, Mapping):
        raise ConfigError(
            [Violation("", f"{str(path)!r} must hold a mapping of config keys, not {show(data)}")]
        )
    log.debug("loaded sweep config from %s", path)
    # ``scheduler.source`` is relative to the config file, as a user reads it.
    spelling = None if path.suffix.lower() == ".json" else command_spelling(text)
    config = parse_config(data, command_spelling=spelling)
    folder = str(path.resolve().parent)
    if not folder.isascii() and not _utf8(folder):
        raise ConfigError(
            [
                Violation(
                    "",
                    f"the folder of {str(path)!r}, "
                    f"{os.fsencode(folder).decode('utf-8', 'backslashreplace')}, has a name "
                    "that is not valid UTF-8: the sweep cannot record it, and wandb cannot "
                    "start a run there either (it passes paths on as UTF-8). Rename the "
                    "folder (or move the config and the training out of it)",
                )
            ]
        )
    return dataclasses.replace(
        config,
        source_dir=folder,
        warnings=(*repeated, *config.warnings),
    )


def _utf8(text: str) -> bool:
    """Whether ``text`` (a path Python decoded with surrogate escapes) is valid UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_config(
    raw: Mapping[str, Any],
    *,
    command_spelling: Sequence[str] | None = None,
    stored: bool = False,
) -> SweepConfig:
    """Validate ``raw`` as wandb would and return the typed config.

    ``command_spelling``: the ``command`` items as a YAML file writes them (see
    :func:`load_config`), so that a number written otherwise than the program gets it
    (``007``) is named in a warning. ``stored``: the config of a sweep in a database,
    which an older localsweep may have made: a grid range past the bound on its values
    is not refused (the database's other sweeps stay readable; the grid's agent says it).

    Raises :class:`~localsweep.errors.ConfigError` listing every violation found.

    >>> cfg = parse_config({"method": "random", "parameters": {"lr": {"min": 0.001, "max": 0.1}}})
    >>> cfg.parameters[0].distribution.value
    'uniform'
    """
    check = Checker()
    if not isinstance(raw, Mapping):
        raise ConfigError([Violation("", f"a sweep config must be a mapping, not {show(raw)}")])
    data: dict[str, Any] = plain(raw)
    if (run_config := _run_config_error(data)) is not None:
        raise run_config
    for key in data:
        if not isinstance(key, str):
            check.error(str(key), non_string_key(key))
    wrapped = _check_top_level_keys(data, check)

    method = _method(data, check, wrapped)
    params = []
    scheduler = read_scheduler(data, check)
    if "parameters" in data:
        params = parse_parameters(data["parameters"], "parameters", (), check)
    elif not wrapped and not _names_search_space(data):
        check.error(
            "parameters",
            "is required (unless `scheduler.search_space` names a function that defines the "
            "space): list the parameters to sweep over under `parameters:`",
        )
    metric = read_metric(data["metric"], "metric", check) if "metric" in data else None
    metrics = read_metrics(data, check)
    early = _early_terminate(data, check)
    run_cap = None
    if "run_cap" in data:
        run_cap = check.integer(data, "run_cap", "run_cap")
        if run_cap is not None and run_cap <= 0:
            check.error("run_cap", f"must be at least 1, not {run_cap!r}")
    strings = {k: check.string(data, k, k) for k in _STRING_KEYS if k in data}
    block = data.get("parameters")
    command = read_command(
        data, check, block if isinstance(block, dict) else (), spelling=command_spelling
    )
    if "kind" in data:
        check.choice(data, "kind", "kind", ["sweep"])
    _controller(data, check)
    check_custom(data, method, metric, metrics, scheduler, check)
    options = _options(data, check, metrics or metric)
    if options.sampler != "auto" and method is not None and method is not Method.BAYES:
        check.warn(
            f"{EXTENSION_KEY}.sampler",
            f"chooses bayes's sampler; `method: {method.value}` does not use it (set "
            "`method: bayes`, or remove the key)",
        )
    for key in ("job", "image_uri"):
        if key in data:
            check.warn(key, "localsweep runs `program` or `command` itself; this key is ignored")

    _same_display_name(params, check)
    if method is Method.GRID:
        check_grid(params, check, bounded=not stored)
    if method is Method.BAYES:
        # With `metrics`, the one fix is `method: custom` (said on `metrics`): a `metric:`
        # would only meet "cannot be set together with `metrics`".
        if metric is None and "metric" not in data and "metrics" not in data:
            check.error("metric", "`method: bayes` needs a `metric:` with the `name` to optimize")
        # Only once every parameter parsed: a bad one is not a constant, just unread.
        unread = any(v.path.startswith("parameters") for v in check.violations)
        if params and not unread and all(p.is_constant for p in params):
            check.error(
                "parameters", "`method: bayes` needs at least one parameter that is not a constant"
            )
    # With `metrics`, `early_terminate` itself is the problem (said by check_custom).
    if "early_terminate" in data and metric is None and not {"metric", "metrics"} & set(data):
        check.error("metric", "`early_terminate` needs a `metric:` to compare runs by")

    if check.violations:
        raise ConfigError(check.violations)
    assert method is not None  # a missing or bad method is a violation
    for warning in check.warnings:
        log.info("sweep config: %s", warning)
    return SweepConfig(
        method=method,
        parameters=tuple(params),
        metric=metric,
        early_terminate=early,
        run_cap=run_cap,
        program=strings.get("program"),
        command=command,
        name=strings.get("name"),
        description=strings.get("description"),
        project=strings.get("project"),
        entity=strings.get("entity"),
        options=options,
        metrics=metrics,
        scheduler=scheduler,
        raw=data,
        warnings=tuple(check.warnings),
    )


def _check_top_level_keys(data: dict[str, Any], check: Checker) -> bool:
    """Flag keys wandb's schema does not know; return whether the config is wrapped in one."""
    wrapped = False
    unknown = [k for k in data if isinstance(k, str) and k not in TOP_LEVEL_KEYS]
    for key in unknown:
        inner = data[key]
        if isinstance(inner, Mapping) and ("method" in inner or "parameters" in inner):
            wrapped = True
            check.error(
                key,
                f"the sweep config is wrapped in `{key}:`; remove that key and put its "
                "contents (method, metric, parameters, ...) at the top level",
            )
    others = [k for k in unknown if not (wrapped and _is_wrapper(data[k]))]
    for key in [k for k in others if _misplaced_hint(k, data[k])]:
        others.remove(key)
        check.error(key, f"unknown key in a sweep config; {_misplaced_hint(key, data[key])}")
    check.unknown_keys({k: None for k in others}, "", TOP_LEVEL_KEYS, "a sweep config")
    return wrapped


#: Keys only a parameter has: a top-level mapping with one of them is a parameter.
_PARAMETER_LIKE = {"min", "max", "values", "value", "distribution", "probabilities", "mu"}


def _misplaced_hint(key: str, value: Any) -> str:
    """Where a top-level key a beginner often writes belongs, or ``""``."""
    if isinstance(value, Mapping) and _PARAMETER_LIKE & set(value):
        return f"`{key}` looks like a parameter: indent it under `parameters:`"
    if key == "count":
        return (
            "the number of runs is not part of the sweep config: give it to the agent "
            "(`localsweep agent --count N`) or cap the sweep with `run_cap: N`"
        )
    return ""


def _run_config_error(data: Mapping[str, Any]) -> ConfigError | None:
    """A wandb run's ``config.yaml`` (``wandb_version``, ``_wandb``, one ``value:`` block
    per key) given where a sweep config belongs: one message, not one per key."""
    key = next((k for k in ("wandb_version", "_wandb") if k in data), None)
    if key is None:
        return None
    return ConfigError(
        [
            Violation(
                key,
                f"this is a wandb run config (`{key}`), not a sweep config: give the sweep's "
                "own config file (with `method:` and `parameters:`)",
            )
        ]
    )


def _is_wrapper(value: Any) -> bool:
    return isinstance(value, Mapping) and ("method" in value or "parameters" in value)


def _method(data: dict[str, Any], check: Checker, wrapped: bool) -> Method | None:
    if "method" not in data:
        if not wrapped:
            check.error(
                "method", "is required: write `method: grid`, `random`, `bayes` or `custom`"
            )
        return None
    name = check.choice(data, "method", "method", _METHODS)
    return Method(name) if name is not None else None


def _names_search_space(data: Mapping[str, Any]) -> bool:
    """Whether ``scheduler.search_space`` is set (wandb then needs no ``parameters``)."""
    scheduler = data.get("scheduler")
    return isinstance(scheduler, Mapping) and bool(scheduler.get("search_space"))


def _early_terminate(data: dict[str, Any], check: Checker) -> Hyperband | None:
    if "early_terminate" not in data:
        return None
    where = "early_terminate"
    node = check.mapping(data[where], where, "with `type: hyperband` and `min_iter:`")
    if node is None:
        return None
    before = len(check.violations)
    check.unknown_keys(node, where, _HYPERBAND_KEYS, "`early_terminate`")
    if "type" not in node:
        check.error(f"{where}.type", "is required: write `type: hyperband`")
    else:
        check.choice(node, "type", f"{where}.type", ["hyperband"])
    min_iter = max_iter = s = None
    if "min_iter" in node:
        min_iter = check.integer(node, "min_iter", f"{where}.min_iter")
        if min_iter is not None and min_iter < 1:
            check.error(f"{where}.min_iter", f"must be at least 1, not {min_iter!r}")
    if "max_iter" in node:
        max_iter = check.integer(node, "max_iter", f"{where}.max_iter")
    if "s" in node:
        # wandb's schema allows any number, but its engine loops ``range(s)``.
        s = check.integer(node, "s", f"{where}.s")
    eta: float = 3.0
    if "eta" in node:
        read = check.number(node, "eta", f"{where}.eta")
        if read is not None and read <= 1:
            check.error(
                f"{where}.eta",
                f"must be greater than 1 (each band keeps the best 1/eta of runs), not {read!r}; "
                "the default is 3",
            )
        elif read is not None:
            eta = read
    strict = True
    if "strict" in node:
        if isinstance(node["strict"], bool):
            strict = node["strict"]
        else:
            check.error(f"{where}.strict", f"must be true or false, not {show(node['strict'])}")
    has_max = "max_iter" in node
    capped = has_max and "s" not in node and "min_iter" in node
    if capped and min_iter is not None and max_iter is not None:
        # wandb's schema accepts this form (its engine then fails on a KeyError 's'):
        # the bands come from min_iter and eta, and max_iter only caps them.
        if min_iter > max_iter:
            check.error(
                where,
                f"min_iter {min_iter} is above max_iter {max_iter}, which leaves no band; "
                "lower min_iter or raise max_iter",
            )
        else:
            check.warn(
                where,
                "`max_iter` without `s`: the bands are min_iter, min_iter*eta, ... "
                f"({min_iter}, {int(min_iter * eta)}, ...) up to max_iter {max_iter}; "
                "add `s` for wandb's max_iter form",
            )
    elif has_max and "s" not in node:
        check.error(
            f"{where}.s",
            "is required with `max_iter` (the number of bands below max_iter); or drop "
            "`max_iter` and give `min_iter` (the first band)",
        )
    elif not has_max and "min_iter" not in node:
        check.error(
            where,
            "hyperband needs `min_iter` (the first band), or `max_iter` together with `s`",
        )
    if len(check.violations) > before:
        return None
    if max_iter is not None and s is not None and not _bands_from_max_iter(max_iter, s, eta):
        check.error(
            where,
            f"max_iter {max_iter}, s {s} and eta {eta!r} leave no band (max_iter / eta is below 1 "
            "or s is below 1); raise max_iter or s",
        )
        return None
    return Hyperband(min_iter=min_iter, max_iter=max_iter, s=s, eta=eta, strict=strict)


def _bands_from_max_iter(max_iter: int, s: int, eta: float) -> list[int]:
    bands: list[int] = []
    band: float = max_iter
    for _ in range(s):
        band /= eta
        if band < 1:
            break
        bands.append(int(band))
    return bands


def _controller(data: dict[str, Any], check: Checker) -> None:
    if "controller" not in data:
        return
    node = check.mapping(data["controller"], "controller", "such as `type: local`")
    if node is None:
        return
    if "type" not in node:
        check.error("controller.type", "is required: write `type: local` or `type: cloud`")
    else:
        check.choice(node, "type", "controller.type", ["local", "cloud"])


def _options(
    data: dict[str, Any], check: Checker, metric: Metric | tuple[Metric, ...] | None
) -> Options:
    if EXTENSION_KEY not in data:
        return Options()
    where = EXTENSION_KEY
    node = check.mapping(
        data[where], where, "localsweep's own options: `seed`, `sampler`, `early_stopping`"
    )
    if node is None:
        return Options()
    check.unknown_keys(node, where, ("seed", "sampler", "early_stopping"), f"`{where}`")
    seed = None
    if "seed" in node and node["seed"] is not None:
        seed = check.integer(node, "seed", f"{where}.seed")
    sampler = "auto"
    if "sampler" in node:
        sampler = check.choice(node, "sampler", f"{where}.sampler", _SAMPLERS) or "auto"
    early_stopping = None
    if "early_stopping" in node:
        at = f"{where}.early_stopping"
        block = check.mapping(
            node["early_stopping"], at, "with `metric:`, `threshold:`, `patience:`, `goal:`"
        )
        if block is not None:
            check.unknown_keys(block, at, _EARLY_STOPPING_KEYS, f"`{at}`")
            names = {key: f"{at}.{key}" for key in _EARLY_STOPPING_KEYS}
            early_stopping = read_early_stopping(block, check, metric, names)
    return Options(seed=seed, sampler=sampler, early_stopping=early_stopping)


def _same_display_name(params: list[Parameter], check: Checker) -> None:
    """Warn of two parameters whose names print alike: a key ``a.b`` beside ``a:
    {parameters: {b: ...}}``. wandb and the search keep them apart, but tables, exports
    and importance name a nested parameter by its dotted path, and would show one as the
    other."""
    seen: dict[str, Parameter] = {}
    for param in params:
        other = seen.setdefault(param.name, param)
        if other is not param:
            nested = param.path if len(param.path) > len(other.path) else other.path
            check.warn(
                f"parameters.{param.name}",
                f"the key `{param.name}` and the nested parameter "
                f"`{' > '.join(nested)}` print as the same "
                f"name `{param.name}`: `show`, `export` and the report would mix their "
                "values; rename one",
            )

"""What a parameter spec that cannot be read was most likely meant to be."""

from __future__ import annotations

from typing import Any

from localsweep.config._checks import GLUED_RE, as_choices, closest, show
from localsweep.config._types import Distribution

__all__ = ["key_hint", "misspelt_keys", "not_a_mapping_hint"]

D = Distribution


def not_a_mapping_hint(spec: Any) -> str:
    """The error for a spec that is a list (``epochs: [1, 2]``, most often meant as the
    choices) or a key glued to its value (``min:0.001``, which YAML reads as one string);
    ``""`` for anything else."""
    if isinstance(spec, list):
        return (
            f"must be a mapping such as `values: {as_choices(spec)}` (choices) or "
            f"`value: {as_choices(spec)}` (a constant list), not {show(spec)}"
        )
    glued = GLUED_RE.match(spec) if isinstance(spec, str) else None
    if glued:
        key, value = glued["key"], glued["value"]
        return (
            f"`{key}:{value}` needs a space after the colon (`{key}: {value}`): without it "
            "YAML reads one string"
        )
    return ""


#: Every key a parameter may have, for "did you mean" on a misspelt one.
_PARAMETER_KEYS = (
    "distribution",
    "value",
    "values",
    "probabilities",
    "min",
    "max",
    "q",
    "mu",
    "sigma",
    "parameters",
)


def misspelt_keys(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, meant)`` for each key of ``spec`` that is no parameter key but close to one
    (``valus``, ``probability``, ``Min``)."""
    found = []
    for key in spec:
        if isinstance(key, str) and key not in _PARAMETER_KEYS and key not in ("a", "b"):
            meant = closest(key, _PARAMETER_KEYS)
            if meant is not None:
                found.append((key, meant))
    return found


def key_hint(dist: Distribution, key: str) -> str:
    """What to write instead of ``key``, which a ``dist`` parameter does not take."""
    misspelt = misspelt_keys({key: None})
    if misspelt:
        return f"; did you mean `{misspelt[0][1]}`?"
    if key == "probabilities" and dist is D.CATEGORICAL:
        return (
            "; for weighted values drop `distribution: categorical` or write "
            "`distribution: categorical_w_probabilities`"
        )
    if key == "q":
        return (
            f"; for quantized values write `distribution: q_{dist.value}`"
            if not dist.is_quantized
            else ""
        )
    if key in ("value", "values"):
        return "; a parameter is either a constant (`value:`) or a list of choices (`values:`)"
    return ""

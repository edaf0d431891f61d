"""Read ``command``: a list of arguments, with warnings for macros wandb's agent would not
expand.

wandb's agent (0.31, ``wandb_agent.Agent._command_run``) takes ``str()`` of each item (the
YAML int ``4`` is ``"4"``, ``true`` is ``"True"``, ``null`` is ``"None"``; sweeps' schema
gives the items no type), first replaces ``${envvar:NAME}`` anywhere in an item, then
replaces an item that is a whole ``${name}`` by the arguments of macro ``name``, and drops
the item when ``name`` is not a macro; any other item is passed as written. localsweep
does the same (drop-in), so a mistyped macro such as ``${arg}`` silently leaves the program
without its arguments.
These checks say so when the config is read, before any run starts.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

from localsweep.config._checks import Checker, show

__all__ = ["MACROS", "read_command"]

#: The macros wandb's agent expands when one is a whole item of ``command``, in the
#: order its documentation lists them.
MACROS = (
    "env",
    "interpreter",
    "program",
    "args",
    "args_no_hyphens",
    "args_no_equals",
    "args_no_boolean_flags",
    "args_append_hydra",
    "args_override_hydra",
    "args_json",
    "args_json_file",
    "args_dict",
)

# wandb's pattern (``SWEEP_COMMAND_ENV_VAR_REGEX``): upper case, digits and ``_`` only.
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")
_ANY_ENVVAR = re.compile(r"\$\{envvar:([^}]*)\}")
_EMBEDDED = re.compile(r"\$\{([^}]*)\}")


def read_command(
    data: dict[str, Any], check: Checker, parameters: Iterable[str] = ()
) -> tuple[str, ...] | None:
    """The ``command`` list, or ``None`` when absent, empty (wandb then runs its default) or
    invalid. ``parameters`` are the top-level parameter names, to recognise ``${lr}``
    written for a parameter ``lr``."""
    if "command" not in data:
        return None
    raw = data["command"]
    if not isinstance(raw, list):
        check.error("command", f"must be a list of strings, one per argument, not {show(raw)}")
        return None
    names = set(parameters)
    # What wandb's agent passes: str() of each item.
    value = [str(item) for item in raw]
    for i, (item, text) in enumerate(zip(raw, value, strict=True)):
        if isinstance(item, bool | list | dict) or item is None:
            # Python's spelling, not YAML's: `true` reaches the program as "True".
            written = json.dumps(item, default=str)
            written = written if len(written) <= 40 else written[:37] + "..."
            check.warn(
                f"command[{i}]",
                f"{written} is passed to the program as {text!r}, as wandb's agent passes it "
                f"(str() of each item); to pass {written}, write it in quotes: '{written}'",
            )
        _check_item(text, f"command[{i}]", names, check)
    if "${program}" in value and not data.get("program"):
        check.warn(
            "command",
            "uses ${program} but the config sets no `program`, so an agent without a "
            "function cannot start its runs; add `program: train.py` (your script), drop "
            "${program}, or run the sweep with a function (--function module:train)",
        )
    # wandb falls back to its default command for an empty list.
    return tuple(value) or None


def _check_item(item: str, where: str, parameters: set[str], check: Checker) -> None:
    """Warn about an item that holds ``${`` but is neither a known macro nor fully
    expanded by ``${envvar:NAME}``."""
    # What wandb's agent sees after ``${envvar:NAME}``: the variable's value (or, unset,
    # its name), which is not itself a macro in any config worth warning about.
    expanded = _ENVVAR.sub("ENV", item)
    if "${" not in expanded:
        return
    if expanded.startswith("${") and expanded.endswith("}"):
        name = expanded[2:-1]
        if name in MACROS:
            return
        check.warn(
            where,
            f"unknown macro {item} is dropped (as wandb drops it){_fix(name, parameters)}",
        )
        return
    embedded = [m.group(0) for m in _EMBEDDED.finditer(expanded)] or ["${"]
    shown = embedded[0]
    name = shown[2:-1] if shown.endswith("}") else ""
    if name in MACROS:
        fix = f"; to expand it, make {shown} an item of its own"
    elif name:
        fix = "; " + _fix(name, parameters).lstrip(":; ")
    else:
        fix = ""
    check.warn(
        where,
        f"{item!r} is passed to the program as written, {shown} included (fine if the "
        "program expands it, as Hydra does): wandb expands a macro only when it is a whole "
        "item, and ${envvar:NAME} anywhere" + fix,
    )


def _fix(name: str, parameters: set[str]) -> str:
    """``: did you mean ...?`` for a macro name that is not one, or the known macros."""
    known = ", ".join(f"${{{m}}}" for m in MACROS)
    envvar = _ANY_ENVVAR.fullmatch(f"${{{name}}}")
    if envvar is not None:
        upper = re.sub(r"[^A-Z0-9_]", "_", envvar.group(1).upper())
        return (
            f": ${{envvar:NAME}} takes upper-case letters, digits and `_` only; did you mean "
            f"${{envvar:{upper}}}?"
        )
    if name.strip() in parameters:
        return (
            f": `{name.strip()}` is a parameter, not a macro; ${{args}} passes every parameter "
            f"(--{name.strip()}=<value>), ${{args_no_hyphens}} as {name.strip()}=<value>"
        )
    close = difflib.get_close_matches(name.strip().lower(), MACROS, n=1, cutoff=0.6)
    if not close:
        close = [m for m in MACROS if name.strip() and m.startswith(name.strip().lower())][:1]
    if close:
        return f": did you mean ${{{close[0]}}}?"
    return f"; known macros: {known}"

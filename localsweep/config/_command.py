"""Read ``command``: a list of arguments, with warnings for macros wandb's agent would not
expand.

wandb's agent (0.31, ``wandb_agent.Agent._command_run``) takes ``str()`` of each item (the
YAML int ``4`` is ``"4"``, ``true`` is ``"True"``, ``null`` is ``"None"``; sweeps' schema
gives the items no type), first replaces ``${envvar:NAME}`` anywhere in an item, then
replaces an item that is a whole ``${name}`` by the arguments of macro ``name``, and drops
the item when ``name`` is not a macro; any other item is passed as written. localsweep
does the same (drop-in), so a mistyped macro such as ``${arg}`` silently leaves the program
without its arguments.
These checks say so when the config is read, before any run starts, and name the text
the program gets for every item that YAML reads as no string (a number, a boolean, null,
a list, a mapping, a date): the item's spelling in the file is gone once the YAML is read
(``007``, ``0x10`` and ``1:30`` are the ints 7, 16 and 90), so every such item is named.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

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
    data: dict[str, Any],
    check: Checker,
    parameters: Iterable[str] = (),
    spelling: Sequence[str] | None = None,
) -> tuple[str, ...] | None:
    """The ``command`` list, or ``None`` when absent, empty (wandb then runs its default) or
    invalid. ``parameters`` are the top-level parameter names, to recognise ``${lr}``
    written for a parameter ``lr``. ``spelling``: each item as the YAML file writes it,
    when known: a number item is named only when the program gets other text (``007``
    reaches it as ``7``); a number given from Python reaches it as Python writes it."""
    if "command" not in data:
        return None
    raw = data["command"]
    if not isinstance(raw, list):
        check.error("command", f"must be a list of strings, one per argument, not {show(raw)}")
        return None
    names = set(parameters)
    # What wandb's agent passes: str() of each item.
    value = [str(item) for item in raw]
    numbers: list[tuple[int, str]] = []
    for i, (item, text) in enumerate(zip(raw, value, strict=True)):
        if isinstance(item, int | float) and not isinstance(item, bool):
            written = spelling[i] if spelling is not None and i < len(spelling) else text
            if written != text:
                numbers.append((i, text))
        elif not isinstance(item, str):
            check.warn(f"command[{i}]", _not_text(item, text))
        _check_item(text, f"command[{i}]", names, check)
    if numbers:
        check.warn("command", _numbers(numbers))
    if "${program}" in value and not data.get("program"):
        check.warn(
            "command",
            "uses ${program} but the config sets no `program`, so an agent without a "
            "function cannot start its runs; add `program: train.py` (your script), drop "
            "${program}, or run the sweep with a function (--function module:train)",
        )
    # wandb falls back to its default command for an empty list.
    return tuple(value) or None


def command_spelling(text: str) -> list[str] | None:
    """Each ``command`` item as the YAML text writes it (a number's spelling is lost once
    YAML reads it: ``007`` is ``7``), or ``None`` when that cannot be read."""
    try:
        document = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar as its text
    except yaml.YAMLError:
        return None
    command = document.get("command") if isinstance(document, dict) else None
    if not isinstance(command, list):
        return None
    return [item if isinstance(item, str) else "" for item in command]


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _not_text(item: Any, text: str) -> str:
    """The warning for an item YAML reads as neither a string nor a number: the program
    gets Python's text of it (``true`` as ``True``), which quotes around the item avoid.
    The item's spelling in the file is gone, so the words hold for every spelling."""
    written = _short(json.dumps(item, default=str))
    shown = _short(text)
    if isinstance(item, list | dict):
        # Quoting `[1, 2]` gives the text '[1, 2]' it already passes: the example is only
        # given where quoting changes the text (`[a, true]` is passed as "['a', True]").
        example = f" (as '{written}')" if written != shown else ""
        kind, each = "list", "; for one argument per element, make each element an item of its own"
        if isinstance(item, dict):
            kind, each = "mapping", ""
        return (
            f"{written} is a YAML {kind}, passed to the program as one argument, Python's "
            f"text of it: {shown!r} (wandb's agent passes str() of each item); to pass other "
            f"text, write it in quotes{example}{each}"
        )
    if isinstance(item, bool) or item is None:
        # Python's spelling, not YAML's: `true` reaches the program as "True".
        also = {
            True: "YAML 1.1 also reads yes and on as true",
            False: "YAML 1.1 also reads no and off as false",
            None: "YAML also reads ~ and an empty item as null; '' is an empty argument",
        }[item]
        return (
            f"{written} is passed to the program as {shown!r}, as wandb's agent passes it "
            f"(str() of each item); to pass the text you wrote, write it in quotes, as "
            f"'{written}' ({also})"
        )
    # A date (`2024-01-31`), a timestamp, !!binary: YAML 1.1 reads these as no text.
    return (
        f"YAML reads this item as a {type(item).__name__}, passed to the program as "
        f"{shown!r} (wandb's agent passes str() of each item); if that is not the text you "
        "wrote, write it in quotes"
    )


#: The numbers listed in the warning about numbers; the rest are counted.
_NUMBERS_SHOWN = 6


def _numbers(numbers: list[tuple[int, str]]) -> str:
    """The warning for the items YAML reads as numbers written otherwise than the program
    gets them: it gets ``str()`` of the number, not its spelling in the file (``007`` is
    ``7``, ``0x10`` ``16``, ``1:30`` ``90``, ``1.0e+3`` ``1000.0``)."""
    shown = [f"command[{i}] as {text!r}" for i, text in numbers[:_NUMBERS_SHOWN]]
    if len(numbers) > _NUMBERS_SHOWN:
        shown.append(f"and {len(numbers) - _NUMBERS_SHOWN} more")
    return (
        "items that YAML reads as numbers reach the program as Python writes the number, "
        f"not as written (wandb's agent passes str() of each item): {', '.join(shown)}; "
        "put an item in quotes to pass the text as written"
    )


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

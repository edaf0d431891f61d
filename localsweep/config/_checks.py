"""The bookkeeping shared by the config parsers: violations, warnings and typed reads.

Every reader records what is wrong and carries on, so that one pass over a config
reports every problem at once. Readers return ``None`` (or the given default) for a
field they rejected, and the caller keeps going with what it has.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from localsweep.errors import ConfigError, Violation

__all__ = [
    "Checker",
    "is_number",
    "non_string_key",
    "number_from_string",
    "plain",
    "show",
    "suggest",
    "yaml_float",
    "yaml_value",
]

# A whole string that is a decimal number. YAML 1.1 (PyYAML) reads ``1e-5`` and
# ``1.0e5`` as strings because its float syntax needs a dot and a signed exponent.
_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INT_RE = re.compile(r"[-+]?\d+")


def is_number(value: Any) -> bool:
    """Whether JSON schema calls ``value`` a number: an int or float, never a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


#: The most values (each mapping, list and scalar; an alias counted at each use) a config
#: may expand to. A list of 100,000 values is far below it; a YAML alias bomb (aliases of
#: aliases, each use repeating its whole anchor) far above, and would fill the memory.
MAX_VALUES = 1_000_000

#: The deepest nesting of lists and mappings read: far past any real config (50 levels of
#: nested `parameters:` take 100), and short of where Python's recursion would overflow.
MAX_DEPTH = 200


def plain(value: Any) -> Any:
    """A deep copy made of plain dicts and lists, so the parsed ``raw`` shares nothing.

    PyYAML shares an anchored node among its aliases, so a small file can stand for a huge
    or endless value. Both are refused with a :class:`ConfigError` first, by a walk that
    visits each shared node once: a value that holds itself (an alias inside its own
    anchor), one that expands to more than :data:`MAX_VALUES`, and one nested deeper than
    :data:`MAX_DEPTH`.
    """
    sizes: dict[int, int] = {}
    total = _expanded_size(value, "", {}, sizes)
    if total > MAX_VALUES:
        where, size = _largest_part(value, sizes)
        raise ConfigError(
            [
                Violation(
                    where,
                    f"expands to {size:,} values, more than the {MAX_VALUES:,} localsweep "
                    "reads: each YAML alias (`*name`) repeats its whole anchor (`&name`), so "
                    "aliases of aliases multiply (an alias bomb?); write the values out, or "
                    "use fewer aliases",
                )
            ]
        )
    return _copy(value)


def _is_node(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _children(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Each item of a mapping or list and where it sits (``a.b``, ``a[0]``)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield (f"{where}.{key}" if where else str(key)), item
    else:
        for i, item in enumerate(value):
            yield f"{where}[{i}]", item


def _expanded_size(value: Any, where: str, open_: dict[int, str], sizes: dict[int, int]) -> int:
    """How many values ``value`` stands for once its aliases are expanded, each shared node
    sized once (``sizes``, by id); ``open_``: the nodes being walked, and where each is."""
    if not _is_node(value):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in open_:
        anchor = f"`{open_[key]}`" if open_[key] else "the whole config"
        raise ConfigError(
            [
                Violation(
                    where,
                    f"refers to itself: it is an alias of {anchor}, which holds it (a YAML "
                    "alias `*name` inside its own anchor `&name` is an endless value); write "
                    "the value out",
                )
            ]
        )
    if len(open_) >= MAX_DEPTH:
        raise ConfigError(
            [Violation(where, f"is nested more than {MAX_DEPTH} lists or mappings deep")]
        )
    open_[key] = where
    size = 1 + sum(_expanded_size(item, at, open_, sizes) for at, item in _children(value, where))
    del open_[key]
    sizes[key] = size
    return size


def _largest_part(value: Any, sizes: dict[int, int]) -> tuple[str, int]:
    """The innermost field that alone expands past :data:`MAX_VALUES`, and its size."""
    where = ""
    while True:
        bigger = next(
            (
                (at, item)
                for at, item in _children(value, where)
                if _is_node(item) and sizes[id(item)] > MAX_VALUES
            ),
            None,
        )
        if bigger is None:
            return where, sizes[id(value)]
        where, value = bigger


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value


def show(value: Any, limit: int = 60) -> str:
    """A short ``repr`` for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def yaml_value(value: Any) -> str:
    """``value`` as YAML writes it, for a hint to copy: ``null``, ``true``, ``1.0e-05``
    (``repr`` gives ``None``, ``True`` and ``1e-05``, which YAML reads as strings)."""
    import yaml

    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000)
    except yaml.YAMLError:
        return show(value)
    text = text.strip().removesuffix("...").strip()
    return text if len(text) <= 60 else show(value)


#: ``min:0.001``: a key glued to its value, which YAML reads as one string.
GLUED_RE = re.compile(r"^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w.-]*):(?P<value>[^\s:/\\].*)$")


def as_choices(value: Any) -> str:
    """``value`` as the YAML list of choices the user most likely meant, for a hint: a
    comma-separated string split at its commas, numbers written as numbers
    (``"0.1, 0.2"`` gives ``[0.1, 0.2]``, ``"adam, sgd"`` gives ``[adam, sgd]``)."""
    import yaml

    if isinstance(value, str) and "," in value:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        items: list[Any] = [
            number_from_string(p) if number_from_string(p) is not None else p for p in parts
        ]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    try:
        text = yaml.safe_dump(items, default_flow_style=True, width=10_000).strip()
    except yaml.YAMLError:
        return f"[{show(value)}]"
    return text if len(text) <= 60 else text[:56] + "...]"


def number_from_string(text: str) -> int | float | None:
    """The number a string spells, if it spells one in full."""
    stripped = text.strip()
    if _INT_RE.fullmatch(stripped):
        return int(stripped)
    if _NUMBER_RE.fullmatch(stripped):
        return float(stripped)
    return None


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely misspells (case aside), or ``None``."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if not close:
        # Prefixes such as ``min`` for ``minimize`` are too short for difflib's ratio.
        close = [c for c in lowered if word and c.startswith(word.lower())][:1]
    return lowered[close[0]] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` for the closest choice, or an empty string."""
    meant = closest(word, choices)
    return f" (did you mean `{meant}`?)" if meant is not None else ""


class Checker:
    """Collects violations and warnings while reading one config."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self.warnings: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.violations.append(Violation(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}" if path else message)

    def number(
        self,
        node: Any,
        key: Any,
        path: str,
        *,
        integer: bool = False,
        finite: bool = True,
    ) -> int | float | None:
        """Read ``node[key]`` as a number, accepting (with a warning) one written as a string.

        A converted string is written back into ``node`` so that ``raw`` holds the number.
        With ``integer``, a float with no fractional part is accepted as JSON schema
        does and returned as an ``int``.
        """
        value = node[key]
        if isinstance(value, str):
            # Only exponent forms are YAML 1.1's doing; a quoted "10" was quoted on purpose
            # and wandb rejects it, so it stays an error.
            converted = number_from_string(value) if "e" in value.lower() else None
            if converted is not None:
                self.warn(
                    path,
                    f"{value!r} is a string (YAML 1.1 reads exponents without a dot and a "
                    f"signed exponent as text); using the number {converted!r}. Write it as "
                    f"{yaml_float(converted)} to make it a number in YAML.",
                )
                node[key] = value = converted
        if not is_number(value):
            kind = "a whole number" if integer else "a number"
            unquote = (
                "; remove the quotes"
                if isinstance(value, str) and number_from_string(value) is not None
                else ""
            )
            self.error(path, f"must be {kind}, not {show(value)}{unquote}")
            return None
        if finite and not math.isfinite(value):
            self.error(path, f"must be a finite number, not {show(value)}")
            return None
        if integer and isinstance(value, float):
            if not value.is_integer():
                self.error(path, f"must be a whole number, not {show(value)}")
                return None
            value = int(value)
            node[key] = value
        return value

    def integer(self, node: Any, key: Any, path: str) -> int | None:
        """Read ``node[key]`` as a whole number (``5.0`` counts, as in JSON schema)."""
        value = self.number(node, key, path, integer=True)
        return None if value is None else int(value)

    def string(self, node: Mapping[str, Any], key: str, path: str) -> str | None:
        value = node[key]
        if not isinstance(value, str):
            self.error(path, f"must be a string, not {show(value)}; put it in quotes")
            return None
        return value

    def choice(
        self, node: Mapping[str, Any], key: str, path: str, choices: Iterable[str]
    ) -> str | None:
        options = list(choices)
        value = node[key]
        if isinstance(value, str) and value in options:
            return value
        listed = ", ".join(options)
        hint = suggest(value, options) if isinstance(value, str) else ""
        self.error(path, f"must be one of {listed}, not {show(value)}{hint}")
        return None

    def mapping(self, value: Any, path: str, what: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping ({what}), not {show(value)}")
            return None
        bad = [k for k in value if not isinstance(k, str)]
        for k in bad:
            self.error(f"{path}.{k}" if path else str(k), non_string_key(k))
        return value

    def unknown_keys(
        self, node: Mapping[str, Any], path: str, allowed: Iterable[str], where: str
    ) -> None:
        known = list(allowed)
        for key in node:
            if isinstance(key, str) and key not in known:
                hint = suggest(key, known)
                listed = ", ".join(known)
                self.error(
                    f"{path}.{key}" if path else key,
                    f"unknown key in {where}{hint}; allowed keys: {listed}",
                )


def yaml_float(value: int | float) -> str:
    """How to write ``value`` so that YAML 1.1 reads a float."""
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        return f"{mantissa}e{exponent}"
    return text


def non_string_key(key: Any) -> str:
    """What is wrong with a mapping key that is not text, and how to write it.

    YAML 1.1, which PyYAML reads, takes an unquoted ``off``, ``no``, ``yes``, ``on``,
    ``true`` or ``false`` as a boolean, and ``1e-3`` or ``10`` as a number: a parameter
    named ``off`` arrives as the key ``False``.
    """
    if isinstance(key, bool):
        return (
            f"keys must be strings, and YAML reads this one as {key}: a key written off, "
            "no, yes, on, true or false unquoted is a boolean in YAML; quote it, e.g. "
            "'off': {...}"
        )
    return f"keys must be strings; quote it, e.g. '{key}': ..."

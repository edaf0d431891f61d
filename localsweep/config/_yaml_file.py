"""Reading a sweep config file's text and YAML: what PyYAML alone says too little about.

A file saved as UTF-16 (PowerShell's ``>``) is named as such, with the fix, rather than
left to UTF-8's "can't decode byte 0xff". A key given twice in one mapping is kept as
PyYAML (and so ``wandb sweep``) keeps it, the last one, but each repeat is warned about
with both lines: a copy-pasted ``parameters`` block or a second ``method`` would
otherwise vanish without a word.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any

import yaml

from localsweep.config._checks import GLUED_RE
from localsweep.errors import ConfigError, Violation

__all__ = ["load_yaml", "parse_config_text", "parse_error_text", "read_config_text"]

#: Byte-order marks of the encodings a config is sometimes saved in by mistake; UTF-32's
#: first, as UTF-32-LE's begins with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

_POWERSHELL = " (what PowerShell's `>` and `Out-File` write)"

_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_config_text(path: Path) -> str:
    """The file's text, read as UTF-8; a :class:`ConfigError` that says why not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [Violation("", f"cannot read sweep config {str(path)!r}: {exc}")]
        ) from exc
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None and len(data) >= 4 and _nul_beside_each_character(data):
        encoding = "UTF-16"
    if encoding is not None:
        raise ConfigError(
            [
                Violation(
                    "",
                    f"cannot read sweep config {str(path)!r}: it is saved as {encoding}"
                    f"{_POWERSHELL if encoding == 'UTF-16' else ''}; save it as UTF-8 (in "
                    "PowerShell: `... | Out-File -Encoding utf8 FILE`, or your editor's "
                    "save-with-encoding)",
                )
            ]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                Violation(
                    "",
                    f"cannot read sweep config {str(path)!r}: line {line} is not UTF-8 (byte "
                    f"0x{data[exc.start]:02x}: most likely saved as Latin-1 or Windows-1252, "
                    "as older Windows editors do); save it as UTF-8 (your editor's "
                    "save-with-encoding, or `iconv -f latin1 -t utf-8`)",
                )
            ]
        ) from exc
    # A UTF-8 byte-order mark (Notepad's "UTF-8 with BOM") is no part of the text: PyYAML,
    # and so `wandb sweep`, skips it, in a JSON file too; `json.loads` would refuse it.
    text = text.removeprefix("\ufeff")
    # Newlines as a file opened in text mode gives them (``\r\n`` and ``\r`` read ``\n``).
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _nul_beside_each_character(data: bytes) -> bool:
    """Whether the file opens like UTF-16 text without its mark: ASCII characters each
    with a NUL byte before or after it."""
    head = data[:64] if len(data) % 2 == 0 else data[:63]
    low, high = head[0::2], head[1::2]
    return any(not any(half) and all(other) for half, other in ((low, high), (high, low)))


def parse_config_text(text: str, *, is_json: bool) -> tuple[Any, list[str]]:
    """The file's data (JSON's, or YAML's) and a warning for each repeated YAML key.

    Raises what the parser raises (a ``ValueError`` or ``yaml.YAMLError``), and a
    ``ValueError`` for lists nested so deep that the parser would overflow Python's stack.
    """
    try:
        return (json.loads(text), []) if is_json else load_yaml(text)
    except RecursionError:
        raise ValueError(
            "lists or mappings are nested too deep to read (hundreds of levels)"
        ) from None


def load_yaml(text: str) -> tuple[Any, list[str]]:
    """What ``yaml.safe_load(text)`` returns, and a warning for each repeated key."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        # Looked for on the nodes, before constructing: they still have the line numbers,
        # and the `<<:` merges are not yet flattened into the mappings.
        warnings: list[str] = []
        _repeated_keys(node, "", set(), warnings)
        return loader.construct_document(node), warnings
    finally:
        loader.dispose()


def _repeated_keys(node: yaml.Node, where: str, seen: set[int], out: list[str]) -> None:
    """Warn, into ``out``, about each key given twice in one mapping under ``node``; each
    node (an anchor used by many aliases) is visited once."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _repeated_keys(item, f"{where}[{i}]", seen, out)
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[tuple[str, str], int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:  # `<<: *base`, then the keys that override it
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        at = f"{where}.{key_node.value}" if where else str(key_node.value)
        line = key_node.start_mark.line + 1
        key = (key_node.tag, key_node.value)
        if key in first:
            out.append(
                f"{at}: is given twice, on lines {first[key]} and {line}; YAML keeps only the "
                f"last one (line {line}), as `wandb sweep` does, so the one on line "
                f"{first[key]} is ignored: remove or rename one"
            )
        else:
            first[key] = line
        _repeated_keys(value_node, at, seen, out)


def parse_error_text(exc: Exception, path: Path, text: str) -> str:
    """What a parser error on the file ``path`` says, with advice for the usual mistake
    behind it."""
    return _where(exc, path) + _yaml_hint(exc, text)


def _where(exc: Exception, path: Path) -> str:
    """The parser's message, naming the file where PyYAML says ``"<unicode string>"``."""
    return str(exc).replace('"<unicode string>"', repr(str(path)))


def _yaml_hint(exc: Exception, text: str) -> str:
    """Advice for a YAML error on a line holding a macro: in a flow list (``[...]``)
    YAML reads the ``{`` of an unquoted ``${env}`` as the start of a mapping."""
    marks = [getattr(exc, "context_mark", None), getattr(exc, "problem_mark", None)]
    lines = text.splitlines()
    numbers = sorted({m.line for m in marks if m is not None and 0 <= m.line < len(lines)})
    if not any("${" in lines[n] for n in numbers):
        return _layout_hint(lines, numbers[-1] if numbers else len(lines) - 1)
    key = next(
        (m.group(1) for n in numbers if (m := re.match(r"\s*([\w.-]+)\s*:", lines[n]))),
        "command",
    )
    return (
        f"\n`{key}` (line {numbers[0] + 1}): quote each macro in a flow list: "
        f'["${{env}}", "${{interpreter}}", ...], or write one item per line (- ${{env}})'
    )


def _layout_hint(lines: list[str], last: int) -> str:
    """Advice for the two layout mistakes behind most YAML errors, at the line that has
    it (PyYAML often reports the line after): a tab in the indentation, and a key with no
    space after its colon."""
    for n, line in enumerate(lines[: last + 1]):
        indent = line[: len(line) - len(line.lstrip())]
        if "\t" in indent:
            return f"\nline {n + 1}: YAML indentation must use spaces, not tabs"
    for n in range(min(last, len(lines) - 1), -1, -1):
        glued = GLUED_RE.match(lines[n].split(" #", 1)[0].rstrip())
        if glued:
            key, value = glued["key"], glued["value"]
            return (
                f"\nline {n + 1}: `{key}:{value}` needs a space after the colon (`{key}: {value}`)"
            )
    return ""

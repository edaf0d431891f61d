"""A hostile or damaged config file is one clear error (or warning), never a hang, a
traceback or a silent change: YAML aliases that multiply or refer to themselves, keys
given twice, a file saved as UTF-16, and the hint for an empty parameter spec."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path

import pytest

from localsweep.config import load_config, parse_config
from localsweep.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent.parent / "helpers"))
from cli_process import cli

SIMPLE = "method: random\nparameters:\n  lr:\n    values: [1, 2]\n"


def _alias_bomb(levels: int) -> str:
    """``levels`` anchors, each a list of nine aliases of the one before: 9**levels values
    in a file of a few hundred bytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join([*lines, "method: random", "parameters:", f"  x: {{value: *a{levels - 1}}}"])


def _error(text: str, name: str = "sweep.yaml") -> str:
    path = Path(name)
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_an_alias_bomb_is_refused_naming_the_field_that_expands() -> None:
    # a6 stands for 9**7 (4.8 million) values; a5, each of its items, for 600,000.
    message = _error(_alias_bomb(7))
    assert "- a6: expands to 5,380,840 values, more than the 1,000,000" in message
    assert "alias" in message


def test_a_list_of_100000_values_is_still_read() -> None:
    values = ", ".join(str(i) for i in range(100_000))
    Path("big.yaml").write_text(f"method: random\nparameters:\n  seed:\n    values: [{values}]\n")
    config = load_config("big.yaml")
    assert len(config.parameters[0].values) == 100_000


def test_aliases_used_many_times_are_copied_apart() -> None:
    text = "method: grid\nparameters:\n  a: &v {values: [1, 2]}\n  b: *v\n"
    Path("s.yaml").write_text(text)
    config = load_config("s.yaml")
    assert config.raw["parameters"] == {"a": {"values": [1, 2]}, "b": {"values": [1, 2]}}
    assert config.raw["parameters"]["a"] is not config.raw["parameters"]["b"]


@pytest.mark.parametrize(
    ("text", "where", "anchor"),
    [
        ("method: random\nparameters:\n  x: &a\n    value: [*a]\n", "parameters.x.value[0]", "x"),
        (
            "method: random\nparameters: &p\n  x:\n    parameters: *p\n",
            "parameters.x.parameters",
            "parameters",
        ),
    ],
)
def test_an_alias_inside_its_own_anchor_is_refused_with_its_path(
    text: str, where: str, anchor: str
) -> None:
    message = _error(text)
    assert f"- {where}: refers to itself" in message
    assert f"`{'parameters.x' if anchor == 'x' else anchor}`, which holds it" in message


def test_a_dict_that_holds_itself_is_refused_by_parse_config() -> None:
    spec: dict[str, object] = {}
    spec["value"] = [spec]
    with pytest.raises(ConfigError, match=r"parameters\.x\.value\[0\]: refers to itself"):
        parse_config({"method": "random", "parameters": {"x": spec}})


def test_nesting_hundreds_deep_is_refused_not_a_recursion_error() -> None:
    deep = "[" * 900 + "]" * 900
    message = _error(
        f'{{"method": "random", "parameters": {{"x": {{"value": {deep}}}}}}}', "s.json"
    )
    assert "is nested more than 200 lists or mappings deep" in message
    message = _error(f"method: random\nparameters:\n  x:\n    value: {'[' * 3000}{']' * 3000}\n")
    assert "nested too deep" in message


@pytest.mark.slow
@pytest.mark.parametrize("command", ["validate", "sweep"])
def test_the_cli_says_so_in_one_line_with_exit_2(command: str) -> None:
    Path("rec.yaml").write_text("method: random\nparameters:\n  x: &a\n    value: [*a]\n")
    proc = (
        cli(command, "rec.yaml", "--db", "s.db") if command == "sweep" else cli(command, "rec.yaml")
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "parameters.x.value[0]: refers to itself" in proc.stderr
    assert len(proc.stderr.splitlines()) < 10


# ----------------------------------------------------------------------------- repeated keys

DUPLICATED = """\
method: random
method: grid
parameters:
  lr:
    values: [1, 2]
  lr:
    values: [3]
"""


def test_a_key_given_twice_keeps_the_last_as_wandb_but_is_warned_with_both_lines() -> None:
    Path("dup.yaml").write_text(DUPLICATED)
    config = load_config("dup.yaml")
    assert config.method.value == "grid"  # PyYAML's (and so wandb sweep's) meaning
    assert config.parameters[0].values == (3,)
    method, lr = config.warnings[:2]
    assert method.startswith("method: is given twice, on lines 1 and 2;")
    assert lr.startswith("parameters.lr: is given twice, on lines 4 and 6;")
    assert "the one on line 4 is ignored" in lr


def test_merge_keys_and_repeated_aliases_are_not_repeats() -> None:
    text = (
        "method: grid\nparameters:\n  y: &b {values: [1, 2]}\n"
        "  x:\n    <<: *b\n    values: [3]\n  z: *b\n"
    )
    Path("merge.yaml").write_text(text)
    config = load_config("merge.yaml")
    assert [p.values for p in config.parameters] == [(3,), (1, 2), (1, 2)]
    assert not [w for w in config.warnings if "twice" in w]


@pytest.mark.slow
def test_validate_prints_the_repeat_as_a_warning() -> None:
    Path("dup.yaml").write_text(DUPLICATED)
    proc = cli("validate", "dup.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "Warning: method: is given twice, on lines 1 and 2" in proc.stderr
    assert "Warning: parameters.lr: is given twice, on lines 4 and 6" in proc.stderr


# ---------------------------------------------------------------------------- encodings, hints


@pytest.mark.parametrize(
    ("encoding", "bom", "named"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16"),  # PowerShell 5's `>`
        ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16"),
        ("utf-16-le", b"", "UTF-16"),
        ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32"),
    ],
)
def test_a_utf16_file_is_named_with_the_fix(encoding: str, bom: bytes, named: str) -> None:
    Path("wide.yaml").write_bytes(bom + SIMPLE.encode(encoding))
    with pytest.raises(ConfigError) as info:
        load_config("wide.yaml")
    assert f"'wide.yaml': it is saved as {named}" in str(info.value)
    assert "save it as UTF-8" in str(info.value)
    assert "codec" not in str(info.value)


def test_utf8_with_a_bom_and_crlf_lines_still_read() -> None:
    Path("s.yaml").write_bytes(codecs.BOM_UTF8 + SIMPLE.replace("\n", "\r\n").encode())
    assert load_config("s.yaml").parameters[0].values == (1, 2)


def test_json_with_a_utf8_bom_reads_as_wandb_sweep_reads_it() -> None:
    # Notepad's "UTF-8 with BOM": wandb reads a JSON config with yaml.safe_load, which
    # skips the mark; json.loads refused it ("Unexpected UTF-8 BOM").
    Path("s.json").write_bytes(
        codecs.BOM_UTF8 + b'{"method": "grid", "parameters": {"opt": {"values": ["a", "b"]}}}'
    )
    assert load_config("s.json").parameters[0].values == ("a", "b")


def test_a_latin1_file_is_named_with_its_line_and_the_fix() -> None:
    Path("lat.yaml").write_bytes(b"method: grid\nparameters:\n  opt:\n    values: [adam\xe9]\n")
    with pytest.raises(ConfigError) as info:
        load_config("lat.yaml")
    message = str(info.value)
    assert "'lat.yaml': line 4 is not UTF-8 (byte 0xe9" in message
    assert "Latin-1" in message and "save it as UTF-8" in message
    assert "codec" not in message


def test_the_hint_for_an_empty_spec_is_yaml_that_means_null() -> None:
    message = _error("method: random\nparameters:\n  lr: {values: [1]}\n  y:\n")
    assert "`value: null` (a constant)" in message
    assert "value: None" not in message
    # Written as the hint says, the constant is null, not the string "None".
    Path("fixed.yaml").write_text(
        "method: random\nparameters:\n  lr: {values: [1]}\n  y: {value: null}\n"
    )
    assert load_config("fixed.yaml").parameters[1].value is None

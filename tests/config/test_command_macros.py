"""A `command` item wandb's agent would drop, or pass on unexpanded, gets a warning naming it
and the fix; the command itself is kept exactly as written (drop-in)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from localsweep.agent._command import build_command
from localsweep.config import parse_config
from localsweep.config._command import MACROS

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "macros.json").read_text(encoding="utf-8")
)
SWEEP_DIR = os.path.join(GOLDEN["wandb_dir_placeholder"], "wandb", f"sweep-{GOLDEN['sweep_id']}")
# Golden cases whose command is a list of strings that leaves something after the drops.
CASES: list[dict[str, Any]] = [
    c
    for c in GOLDEN["cases"]
    if c["command"] and c["argv"] and all(isinstance(i, str) for i in c["command"])
]


def warnings_for(command: list[str], **params: Any) -> tuple[str, ...]:
    spec = {name: {"value": v} for name, v in (params or {"x": 1}).items()}
    config = {"method": "random", "program": "train.py", "command": command, "parameters": spec}
    return parse_config(config).warnings


def test_a_mistyped_macro_is_kept_and_named_with_the_closest_macro() -> None:
    command = ["${env}", "${interpreter}", "${program}", "${arg}"]
    cfg = parse_config(
        {
            "method": "random",
            "program": "t.py",
            "command": command,
            "parameters": {"x": {"value": 1}},
        }
    )
    assert cfg.command == tuple(command)
    assert cfg.warnings == (
        "command[3]: unknown macro ${arg} is dropped (as wandb drops it): did you mean ${args}?",
    )


@pytest.mark.parametrize(
    ("item", "closest"),
    [
        ("${ARGS}", "${args}"),
        ("${args }", "${args}"),
        ("${args_no_hyphen}", "${args_no_hyphens}"),
        ("${args_json_files}", "${args_json_file}"),
        ("${interpeter}", "${interpreter}"),
        ("${prog}", "${program}"),
    ],
)
def test_near_misses_name_the_closest_macro(item: str, closest: str) -> None:
    (warning,) = warnings_for(["python", "t.py", item])
    assert warning.startswith(f"command[2]: unknown macro {item} is dropped")
    assert warning.endswith(f"did you mean {closest}?")


def test_an_unknown_macro_with_no_near_miss_lists_the_known_ones() -> None:
    (warning,) = warnings_for(["python", "t.py", "${zzz}"])
    assert "unknown macro ${zzz} is dropped" in warning
    assert all(f"${{{m}}}" in warning for m in MACROS)


def test_a_parameter_written_as_a_macro_points_to_args() -> None:
    (warning,) = warnings_for(["python", "t.py", "--lr", "${lr}"], lr=0.1)
    assert warning.startswith("command[3]: unknown macro ${lr} is dropped")
    assert "`lr` is a parameter, not a macro; ${args} passes every parameter (--lr=<value>)" in (
        warning
    )


def test_a_lower_case_envvar_is_dropped_and_the_upper_case_name_suggested() -> None:
    (warning,) = warnings_for(["${envvar:home}", "${args}"])
    assert warning.startswith("command[0]: unknown macro ${envvar:home} is dropped")
    assert "did you mean ${envvar:HOME}?" in warning


@pytest.mark.parametrize(
    ("item", "fix"),
    [
        ("x${program}", "make ${program} an item of its own"),
        ("--lr=${lr}", "`lr` is a parameter, not a macro"),
        ("--out=${envvar:DATA}/${arg}", "did you mean ${args}?"),
    ],
)
def test_a_macro_inside_a_longer_item_is_passed_as_written_with_a_warning(
    item: str, fix: str
) -> None:
    (warning,) = warnings_for(["python", "t.py", item], lr=0.1)
    assert warning.startswith(f"command[2]: {item!r} is passed to the program as written")
    assert "wandb expands a macro only when it is a whole item" in warning
    assert fix in warning


@pytest.mark.parametrize(
    "command",
    [
        ["${env}", "${interpreter}", "${program}", "${args}"],
        [f"${{{m}}}" for m in MACROS],
        ["python", "--data=${envvar:DATA_DIR}", "${envvar:WANDB_SWEEP_ID}", "${envvar:}"],
        ["bash", "run.sh", "$HOME", "{args}", "$args"],
    ],
)
def test_known_macros_envvars_and_plain_items_give_no_warning(command: list[str]) -> None:
    assert warnings_for(command) == ()


def test_every_known_macro_is_one_the_agent_expands() -> None:
    for macro in MACROS:
        built = build_command(
            ["echo", f"${{{macro}}}"], "t.py", {"x": 1}, sweep_dir="w", run_id="r"
        )
        assert len(built.argv) > 1, macro


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_items_said_to_be_dropped_are_the_ones_wandb_drops(case: dict[str, Any]) -> None:
    """Removing the items the warnings call dropped leaves wandb's recorded argv unchanged,
    and an item said to be passed as written reaches wandb's child as written."""
    command: list[str] = case["command"]
    warnings = warnings_for(command)
    dropped = {
        i
        for i, _ in enumerate(command)
        if any(w.startswith(f"command[{i}]: unknown macro") for w in warnings)
    }
    as_written = [
        command[i]
        for i in range(len(command))
        if any(w.startswith(f"command[{i}]: {command[i]!r} is passed") for w in warnings)
    ]
    kept = [item for i, item in enumerate(command) if i not in dropped]
    built = build_command(
        kept,
        case["program"],
        GOLDEN["param_sets"][case["param_set"]]["params"],
        sweep_dir=SWEEP_DIR,
        run_id=case["run_id"],
        interpreter="python",
        environ=GOLDEN["environ"],
    )
    assert list(built.argv) == case["argv"]
    assert all(item in case["argv"] for item in as_written)


def test_golden_data_holds_dropped_and_as_written_items() -> None:
    """The conformance test above is not vacuous: wandb's record has both kinds."""
    flagged = [w for c in CASES for w in warnings_for(c["command"])]
    assert any("unknown macro" in w for w in flagged)
    assert any("is passed to the program as written" in w for w in flagged)

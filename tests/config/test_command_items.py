"""`command` items that are not strings are run as wandb's agent runs them: ``str()`` of
each (the YAML int ``4`` is ``"4"``, ``true`` is ``"True"``). sweeps' schema gives the
items no type, so wandb accepts such a config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from localsweep.agent._command import build_command
from localsweep.config import load_config, parse_config

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "macros.json").read_text(encoding="utf-8")
)
SWEEP_DIR = os.path.join(GOLDEN["wandb_dir_placeholder"], "wandb", f"sweep-{GOLDEN['sweep_id']}")
# wandb 0.31's argv for commands such as ["${program}", 5, True, 1.5, None].
NON_STRING = [
    c for c in GOLDEN["cases"] if c["command"] and not all(isinstance(i, str) for i in c["command"])
]

PPO_COMMAND = ["${env}", "${interpreter}", "${program}", "--n_envs", 4, "--use_wandb", True]


def config(command: list[Any], program: str = "main.py") -> dict[str, Any]:
    return {
        "method": "random",
        "program": program,
        "command": command,
        "parameters": {"lr": {"values": [0.1, 0.2]}},
    }


def test_golden_data_holds_non_string_items() -> None:
    assert NON_STRING


@pytest.mark.parametrize("case", NON_STRING, ids=[c["id"] for c in NON_STRING])
def test_non_string_items_are_accepted_and_passed_as_wandbs_agent_passes_them(
    case: dict[str, Any],
) -> None:
    cfg = parse_config(config(case["command"], case["program"]))
    built = build_command(
        cfg.command,
        cfg.program,
        GOLDEN["param_sets"][case["param_set"]]["params"],
        sweep_dir=SWEEP_DIR,
        run_id=case["run_id"],
        environ=GOLDEN["environ"],
    )
    assert list(built.argv) == case["argv"]


def test_a_yaml_int_and_bool_in_command_are_str_of_them() -> None:
    cfg = parse_config(config([*PPO_COMMAND, "${args}"]))
    assert cfg.command == (
        "${env}",
        "${interpreter}",
        "${program}",
        "--n_envs",
        "4",
        "--use_wandb",
        "True",
        "${args}",
    )


def test_items_that_are_not_text_get_a_warning_naming_what_the_program_gets() -> None:
    cfg = parse_config(config(["${env}", "${interpreter}", "${program}", 4, 2.5, True, None]))
    assert cfg.warnings == (
        "command[5]: true is passed to the program as 'True', as wandb's agent passes it "
        "(str() of each item); to pass the text you wrote, write it in quotes, as 'true' "
        "(YAML 1.1 also reads yes and on as true)",
        "command[6]: null is passed to the program as 'None', as wandb's agent passes it "
        "(str() of each item); to pass the text you wrote, write it in quotes, as 'null' "
        "(YAML also reads ~ and an empty item as null; '' is an empty argument)",
    )  # numbers given from Python reach the program as Python writes them: nothing to say


def test_a_number_written_as_the_program_gets_it_gets_no_warning(tmp_path: Path) -> None:
    """`--n_envs 4` in a YAML file is what wandb runs without a word: so here too."""
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "program: main.py\nmethod: random\nparameters:\n  lr: {values: [0.1]}\n"
        "command:\n  - ${env}\n  - ${interpreter}\n  - ${program}\n  - --n_envs\n  - 4\n"
        "  - --lr_scale\n  - 2.5\n  - ${args}\n"
    )
    config = load_config(path)
    assert config.command is not None and config.command[4] == "4"
    assert config.warnings == ()


def test_a_command_that_is_not_a_list_is_still_an_error() -> None:
    from localsweep.errors import ConfigError

    with pytest.raises(ConfigError, match="command: must be a list of strings"):
        parse_config(config("python main.py"))  # type: ignore[arg-type]

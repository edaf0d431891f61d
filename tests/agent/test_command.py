"""Program mode: the child's argv, files and environment match what ``wandb agent`` produces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from localsweep.agent._command import (
    DEFAULT_COMMAND,
    args_json_file_path,
    build_command,
    child_env,
    param_file_content,
    param_file_path,
    sweep_dir_for,
)
from localsweep.errors import ConfigError

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "macros.json").read_text(encoding="utf-8")
)
GOLDEN_DIR: str = GOLDEN["wandb_dir_placeholder"]
GOLDEN_SWEEP_DIR = os.path.join(GOLDEN_DIR, "wandb", f"sweep-{GOLDEN['sweep_id']}")
CASES: list[dict[str, Any]] = [c for c in GOLDEN["cases"] if c["argv"]]
# wandb hands an empty list to Popen for these, which raises inside its agent loop.
EMPTY_CASES: list[dict[str, Any]] = [c for c in GOLDEN["cases"] if not c["argv"]]
PARAM_SETS: dict[str, dict[str, Any]] = GOLDEN["param_sets"]

# Prints the arguments it was started with, as JSON, so a test can see exactly what arrived.
ECHO_ARGV = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def _params(case: dict[str, Any]) -> dict[str, Any]:
    return PARAM_SETS[case["param_set"]]["params"]


def _golden_build(case: dict[str, Any]) -> Any:
    # wandb's agent always runs the literal `python`; ours defaults to sys.executable.
    return build_command(
        case["command"],
        case["program"],
        _params(case),
        sweep_dir=GOLDEN_SWEEP_DIR,
        run_id=case["run_id"],
        interpreter="python",
        environ=GOLDEN["environ"],
    )


def _run(argv: tuple[str, ...], **kwargs: Any) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", **kwargs)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_golden_data_was_recorded_from_wandb_0_31() -> None:
    assert GOLDEN["wandb_version"].startswith("0.31.")
    assert len(CASES) > 300


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_argv_matches_wandb_agent(case: dict[str, Any]) -> None:
    assert list(_golden_build(case).argv) == case["argv"]


@pytest.mark.parametrize("case", EMPTY_CASES, ids=[c["id"] for c in EMPTY_CASES])
def test_command_that_wandb_expands_to_nothing_is_a_config_error(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        _golden_build(case)
    assert [v.path for v in info.value.violations] == ["command"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_files_match_what_wandb_agent_writes(case: dict[str, Any]) -> None:
    expected = {case["json_file"]: case["json_content"]} if case["json_file"] else {}
    assert dict(_golden_build(case).files) == expected


@pytest.mark.parametrize("name", list(PARAM_SETS))
def test_param_file_content_matches_wandb(name: str) -> None:
    entry = PARAM_SETS[name]
    written = param_file_content(entry["params"])
    if entry["yaml_content"].isascii():
        assert written == entry["yaml_content"]
    else:
        # wandb writes text in the locale's encoding, and reads it back so; localsweep
        # writes escapes, pure ASCII, which read back the same under any locale.
        assert written.isascii()
        assert yaml.safe_load(written) == yaml.safe_load(entry["yaml_content"])


@pytest.mark.parametrize("case", CASES[:3], ids=[c["id"] for c in CASES[:3]])
def test_child_env_sets_what_wandb_agent_sets(case: dict[str, Any]) -> None:
    env = child_env(
        {},
        sweep_id=GOLDEN["sweep_id"],
        run_id=case["run_id"],
        project=GOLDEN["project"],
        wandb_dir=GOLDEN_DIR,
        param_path=param_file_path(GOLDEN_SWEEP_DIR, case["run_id"]),
    )
    assert env == {**case["wandb_env"], "WANDB_MODE": "offline"}


def test_sweep_dir_for_is_where_wandb_puts_run_files() -> None:
    case = next(c for c in CASES if c["json_file"])
    assert sweep_dir_for(GOLDEN_DIR, GOLDEN["sweep_id"]) == os.path.dirname(case["json_file"])
    assert args_json_file_path(GOLDEN_SWEEP_DIR, case["run_id"]) == case["json_file"]


def test_wandb_dir_defaults_to_the_current_directory_in_wandb() -> None:
    # The agent must pass WANDB_DIR itself; this records what wandb picks when it is unset.
    assert GOLDEN["wandb_dir_when_unset"] == "cwd"


def test_interpreter_defaults_to_the_agents_own_python() -> None:
    cmd = build_command(None, "train.py", {}, sweep_dir="s", run_id="r")
    assert cmd.argv[1] == sys.executable


def test_default_command_is_wandbs() -> None:
    case = next(c for c in CASES if c["id"] == "typical.default")
    from_default = build_command(
        DEFAULT_COMMAND,
        case["program"],
        _params(case),
        sweep_dir=GOLDEN_SWEEP_DIR,
        run_id=case["run_id"],
        interpreter="python",
    )
    assert list(from_default.argv) == case["argv"]


def test_program_macro_without_program_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        build_command(None, None, {"lr": 0.1}, sweep_dir="s", run_id="r")
    assert [v.path for v in info.value.violations] == ["program"]


def test_command_without_program_macro_needs_no_program() -> None:
    cmd = build_command(["echo", "${args}"], None, {"lr": 0.1}, sweep_dir="s", run_id="r")
    assert cmd.argv == ("echo", "--lr=0.1")


def test_command_that_expands_to_nothing_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        build_command(["${args}", "${nope}"], "train.py", {}, sweep_dir="s", run_id="r")
    assert [v.path for v in info.value.violations] == ["command"]


def test_envvar_lookup_defaults_to_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LS_TEST_DATA_DIR", "/data/x y")
    cmd = build_command(
        ["${program}", "--data=${envvar:LS_TEST_DATA_DIR}"], "t.py", {}, sweep_dir="s", run_id="r"
    )
    assert cmd.argv == ("t.py", "--data=/data/x y")


def test_sequences_render_as_the_lists_wandb_receives() -> None:
    cmd = build_command(["${args}"], None, {"x": (1, ("a", 2))}, sweep_dir="s", run_id="r")
    assert cmd.argv == ("--x=[1, ['a', 2]]",)


def test_child_env_drops_wandb_service_and_keeps_the_rest() -> None:
    env = child_env(
        {"WANDB_SERVICE": "2-123-tcp-localhost-1", "PATH": "/bin", "WANDB_RUN_ID": "old"},
        sweep_id="sw",
        run_id="new",
        project="p",
        wandb_dir="/w",
        param_path="/w/wandb/sweep-sw/config-new.yaml",
        entity="team",
    )
    assert "WANDB_SERVICE" not in env
    assert env["PATH"] == "/bin"
    assert env["WANDB_RUN_ID"] == "new"
    assert env["WANDB_ENTITY"] == "team"


def test_child_receives_argv_exactly(tmp_path: Path) -> None:
    program = tmp_path / "echo argv.py"
    program.write_text(ECHO_ARGV, encoding="utf-8")
    params = {
        "a_quote": 'he said "hi", it\'s',
        "b_space": "two words",
        "c_unicode": "héllo ✓ 日本",
        "d_shell": "$HOME; rm -rf / `x`",
        "e_list": ["x y", 1e-05],
    }
    cmd = build_command(None, str(program), params, sweep_dir=tmp_path, run_id="r1")
    received = json.loads(_run(cmd.argv))
    assert received == [
        '--a_quote=he said "hi", it\'s',
        "--b_space=two words",
        "--c_unicode=héllo ✓ 日本",
        "--d_shell=$HOME; rm -rf / `x`",
        "--e_list=['x y', 1e-05]",
    ]


def test_args_json_reaches_the_child_as_one_argument(tmp_path: Path) -> None:
    program = tmp_path / "echo.py"
    program.write_text(ECHO_ARGV, encoding="utf-8")
    params = {"name": 'a "b" c', "opt": {"lr": 0.1, "tags": ["x", None]}, "on": True}
    cmd = build_command(
        ["${interpreter}", "${program}", "${args_json}"],
        str(program),
        params,
        sweep_dir=tmp_path,
        run_id="r1",
    )
    (received,) = json.loads(_run(cmd.argv))
    assert json.loads(received) == params


def test_args_json_file_parses_back_to_the_params(tmp_path: Path) -> None:
    program = tmp_path / "read_json.py"
    program.write_text(
        "import sys\nprint(open(sys.argv[1], encoding='utf-8').read())\n", encoding="utf-8"
    )
    params = {"big": 12345678901234567890, "lr": 1e-05, "opt": {"name": "adam"}, "u": "日本"}
    cmd = build_command(
        ["${interpreter}", "${program}", "${args_json_file}"],
        str(program),
        params,
        sweep_dir=sweep_dir_for(tmp_path, "sw1"),
        run_id="r1",
    )
    for path, content in cmd.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content, encoding="utf-8")
    assert json.loads(_run(cmd.argv)) == params


WANDB_READER = """\
import json
import wandb

run = wandb.init(config={"lr": 0.5, "extra": 7})
out = {
    "config": dict(run.config),
    "types": {k: type(v).__name__ for k, v in run.config.items()},
    "id": run.id,
    "sweep_id": run.sweep_id,
    "project": run.project,
}
run.finish()
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_wandb_init_reads_the_param_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    params = {
        "flag": False,
        "lr": 1e-05,
        "n_layers": 3,
        "name": "two words ✓",
        "nothing": None,
        "opt": {"beta": 0.9, "name": "adam"},
        "sizes": [64, 32],
    }
    folder = sweep_dir_for(tmp_path, "sweepabc")
    param_path = param_file_path(folder, "runxyz")
    Path(folder).mkdir(parents=True)
    Path(param_path).write_text(param_file_content(params), encoding="utf-8")
    program = tmp_path / "reader.py"
    program.write_text(WANDB_READER, encoding="utf-8")
    env = child_env(
        os.environ,
        sweep_id="sweepabc",
        run_id="runxyz",
        project="proj",
        wandb_dir=tmp_path,
        param_path=param_path,
    )

    stdout = _run((sys.executable, str(program)), env=env, cwd=tmp_path)

    result = json.loads(stdout.split("RESULT ", 1)[1])
    assert result["config"] == {**params, "extra": 7}
    assert result["types"] == {
        "flag": "bool",
        "lr": "float",
        "n_layers": "int",
        "name": "str",
        "nothing": "NoneType",
        "opt": "dict",
        "sizes": "list",
        "extra": "int",
    }
    assert (result["id"], result["sweep_id"], result["project"]) == ("runxyz", "sweepabc", "proj")

"""The agent's working folder deleted under it (``rm -rf`` of the folder it was started in),
in function mode, ``--isolation process`` and program mode. No run can work there (wandb
asks for the working folder as a run starts and as ``wandb.finish()`` prints its footer),
so that is the environment's fault, as a full disk is: the run in progress is recorded
``killed`` (end reason ``setup_error``) with the rows it logged, not ``failed``; no run is
left ``running``; the agent stops with one message naming the folder and the fix, and
the command to go on keeps the runs left of its ``--count``. Started from a folder that
exists, an agent runs that point again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from faults_support import one_line_errors

import localsweep

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

# The run deletes the agent's working folder itself between two logs: the same as an
# `rm -rf` from another shell while it trains, without a race.
TRAIN = """
import os
import shutil

import wandb


def train():
    run = wandb.init()
    run.log({"loss": float(run.config["x"])})
    shutil.rmtree(os.environ["DELETE_FOLDER"], ignore_errors=True)
    run.log({"loss": float(run.config["x"]) / 2})
    wandb.finish()
"""
PROGRAM = "import cwd_train\ncwd_train.train()\n"

MODES = {
    "function": ["--function", "cwd_train:train"],
    "process": ["--function", "cwd_train:train", "--isolation", "process"],
    "program": [],
}


def _sweep(tmp_path: Path, program: bool) -> str:
    code = tmp_path / "code"
    code.mkdir()
    (code / "cwd_train.py").write_text(TRAIN)
    (code / "cwd_program.py").write_text(PROGRAM)
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": [1, 2, 3, 4]}},
    }
    if program:
        config["program"] = str(code / "cwd_program.py")
    return localsweep.sweep(config, db=str(tmp_path / "s.db"))


def _agent(
    tmp_path: Path,
    cwd: Path,
    *args: str,
    delete: bool = False,
    silent: bool = False,
    wandb_dir: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``localsweep agent ARGS`` in ``cwd``; ``delete``: its runs delete ``cwd``;
    ``wandb_dir``: ``WANDB_DIR`` (else an absolute folder of the test's)."""
    env = {"WANDB_MODE": "offline", "WANDB_DIR": wandb_dir or str(tmp_path / "runs")}
    env["WANDB_SILENT"] = "true" if silent else "false"
    env["DELETE_FOLDER"] = str(cwd if delete else tmp_path / "nothing")
    code = str(tmp_path / "code")
    env["PYTHONPATH"] = os.pathsep.join([code, os.environ.get("PYTHONPATH", "")])
    return cli_at(cwd, "agent", "--db", str(tmp_path / "s.db"), *args, env=env)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("silent", [False, True], ids=["footer", "silent"])
def test_a_working_folder_deleted_under_the_agent_stops_it_with_one_message(
    tmp_path: Path, mode: str, silent: bool
) -> None:
    """``footer``: wandb.finish() prints its footer, which asks for the working folder, so
    the run in progress fails as it ends. ``silent`` (``WANDB_SILENT``): no footer, so that
    run finishes, and the next one cannot start."""
    sweep_id = _sweep(tmp_path, program=mode == "program")
    (tmp_path / "runs").mkdir()
    work = tmp_path / "work"
    work.mkdir()

    done = _agent(
        tmp_path, work, sweep_id, "--count", "3", *MODES[mode], delete=True, silent=silent
    )

    said = " ".join(done.stderr.split())  # the terminal width may fold the message
    assert done.returncode == 1, done.stderr
    assert not work.exists()
    assert f"Error: working folder deleted: the folder {work}, where the agent" in said, said
    assert "start the agent again from a folder that exists" in said
    # The runs left of its count: the killed one does not count.
    left = 2 if silent else 3
    isolated = "--isolation process " if mode == "process" else ""
    assert f"--count {left} {isolated}{sweep_id}`" in said, said
    if mode in ("function", "process"):
        # A function run's traceback (the footer's FileNotFoundError) is not said either:
        # the deleted folder is.
        one_line_errors(done.stderr)
    else:
        # The run's own traceback (wandb's error, in the program's output or as the run's
        # process reports its failure) may be shown; the agent's never.
        assert os.path.join(os.path.dirname(localsweep.__file__), "cli.py") not in done.stderr

    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    ended = {r.config["x"]: r for r in runs}
    assert sorted(ended) == ([1, 2] if silent else [1])  # none left running
    if silent:
        assert (ended[1].state, ended[1].summary["loss"]) == ("finished", 0.5)
    killed = ended[2 if silent else 1]
    assert (killed.state, killed.end_reason) == ("killed", "setup_error"), killed.error
    assert "working folder deleted" in (killed.error or "")
    # The rows of the run the deletion broke are kept (not "no result" of a failed run).
    assert [row["loss"] for row in killed.history()] == ([] if silent else [1.0, 0.5])

    # From a folder that exists, the point runs again.
    again = _agent(tmp_path, tmp_path, sweep_id, "--count", "1", *MODES[mode], silent=silent)
    assert again.returncode == 0, again.stderr
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    point = killed.config["x"]
    assert sorted(r.state for r in runs if r.config["x"] == point) == ["finished", "killed"]


@pytest.mark.parametrize("program", [True, False], ids=["program", "function"])
def test_an_agent_started_in_a_deleted_folder_says_so_and_claims_no_run(
    tmp_path: Path, program: bool
) -> None:
    """An agent started from a shell whose folder was deleted (``cd work; rm -rf ../work``
    elsewhere): one message, no run claimed, for a program sweep and for ``--function``
    (which is looked for in that folder). The process is started in ``work``, deletes it,
    then runs ``localsweep agent`` as the command line would."""
    sweep_id = _sweep(tmp_path, program=program)
    work = tmp_path / "work"
    work.mkdir()
    function = [] if program else ["--function", "train:train"]
    argv = ["localsweep", "agent", "--db", str(tmp_path / "s.db"), *function, sweep_id]
    start = (
        "import runpy, shutil, sys\n"
        f"shutil.rmtree({str(work)!r})\n"
        f"sys.argv = {argv!r}\n"
        "runpy.run_module('localsweep', run_name='__main__')\n"
    )
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", start],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    said = " ".join(done.stderr.split())
    assert done.returncode == 1, done.stderr
    one_line_errors(done.stderr)
    gone = f"Error: working folder deleted: the folder {work}, where the agent was started"
    assert f"{gone}, no longer exists" in said, said
    assert "Start the agent from a folder that exists" in said
    assert list(localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs) == []


def test_a_relative_wandb_dir_in_the_deleted_folder_ends_the_same(tmp_path: Path) -> None:
    # The run's files were recorded by their path against the working folder, which raised
    # once it was gone: a traceback, and the run left running.
    sweep_id = _sweep(tmp_path, program=True)
    work = tmp_path / "work"
    work.mkdir()
    done = _agent(tmp_path, work, "--count", "2", sweep_id, delete=True, wandb_dir="wd")
    assert done.returncode == 1, done.stderr
    assert "working folder deleted" in " ".join(done.stderr.split()), done.stderr
    # The program's own traceback (wandb's footer) is its output; the agent's, never.
    assert os.path.dirname(localsweep.__file__) not in done.stderr, done.stderr
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert runs and all(r.state != "running" for r in runs), [(r.state, r.error) for r in runs]
    assert all(r.dir is None or r.dir.startswith(str(work / "wd")) for r in runs), [
        r.dir for r in runs
    ]

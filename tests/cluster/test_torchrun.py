"""A run started by real ``torchrun`` (PyTorch's launcher, ``python -m torch.distributed.run``)
in the config's ``command``: two ranks on the CPU joined by a gloo process group, one run
per point with rank 0's metrics, and, when the agent is told to stop, the signal reaches
every rank through torchrun, the rows logged so far are kept and no rank outlives the run.

Skipped where PyTorch is not installed; ``.ci/run`` installs it (its CPU build).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import localsweep
from localsweep.records import RunState

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

TRAIN = """\
import argparse, os, signal, time
import torch
import torch.distributed as dist
import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
parser.add_argument("--steps", type=int)
args = parser.parse_args()
dist.init_process_group("gloo")
rank = dist.get_rank()
out = os.environ["TORCHRUN_TEST_DIR"]
open(os.path.join(out, f"pid-{rank}-{os.getpid()}"), "w").close()
run = wandb.init() if rank == 0 else None
for step in range(args.steps):
    value = torch.tensor([args.x * 10 + rank + step])
    dist.all_reduce(value)  # both ranks' values summed: each rank's own part counts
    if run is not None:
        run.log({"loss": value.item()})
    if step == 2:
        open(os.path.join(out, f"logged-{rank}"), "w").close()
    if args.steps > 3:
        try:
            time.sleep(0.5)
        except KeyboardInterrupt:
            if os.environ.get("TORCHRUN_TEST_STUBBORN"):
                # A checkpoint save that takes long and lets no signal stop it.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                time.sleep(600)
            raise
if run is not None:
    run.finish()
dist.destroy_process_group()
"""


def _config(tmp_path: Path, steps: int, xs: list[int]) -> dict[str, object]:
    (tmp_path / "train.py").write_text(TRAIN)
    return {
        "method": "grid",
        "program": "train.py",
        "command": [
            "${env}",
            "${interpreter}",
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "${program}",
            "${args}",
        ],
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": xs}, "steps": {"value": steps}},
    }


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.setenv("TORCHRUN_TEST_DIR", str(folder))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(tmp_path)
    return folder


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _rank_pids(out: Path) -> list[int]:
    return [int(p.name.rsplit("-", 1)[1]) for p in out.glob("pid-*")]


def test_torchrun_ranks_make_one_run_per_point_with_rank_0s_metrics(
    tmp_path: Path, out: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(_config(tmp_path, 3, [1, 2]), db=db)
    localsweep.agent(sweep_id, db=db)

    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert sorted(r.config["x"] for r in runs) == [1, 2]  # one run per point, not per rank
    for run in runs:
        x = run.config["x"]
        assert run.state == RunState.FINISHED, run.error
        # Each row is the sum over both ranks, so both ranks trained this run's point.
        expected = [2 * (x * 10 + step) + 1 for step in range(3)]
        assert [row["loss"] for row in run.history()] == expected
        assert run.summary["loss"] == expected[-1]
    assert len(_rank_pids(out)) == 4  # two ranks for each of the two runs


def _start_agent(db: str, sweep_id: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "localsweep.cli", "agent", sweep_id, "--db", db, *extra],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _stop_when_both_ranks_logged(
    agent: subprocess.Popen[bytes], out: Path, log: Path, sig: int
) -> list[int]:
    deadline = time.monotonic() + 240
    while not (out / "logged-0").exists() or not (out / "logged-1").exists():
        assert agent.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    ranks = _rank_pids(out)
    assert len(ranks) == 2
    agent.send_signal(sig)
    return ranks


def _assert_ended(ranks: list[int], log: Path, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while any(_alive(pid) for pid in ranks) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not [pid for pid in ranks if _alive(pid)], log.read_text()
    finally:
        for pid in ranks:  # never leave a stubborn rank behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_an_agent_stopped_mid_run_stops_every_rank_and_keeps_the_rows(
    tmp_path: Path, out: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(_config(tmp_path, 60, [1]), db=db)
    log = tmp_path / "agent.log"
    agent = _start_agent(db, sweep_id, log)
    try:
        # SIGTERM, as SLURM's preemption does.
        ranks = _stop_when_both_ranks_logged(agent, out, log, signal.SIGTERM)
        assert agent.wait(timeout=120) == 143, log.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    # torchrun passed the agent's SIGINT on to the ranks (in sessions of their own):
    # none outlives the run.
    _assert_ended(ranks, log)
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.state, run.end_reason) == ("preempted", "preempted"), log.read_text()
    losses = [row["loss"] for row in run.history()]
    assert len(losses) >= 3  # the rows logged before the stop are kept
    assert losses == [2 * (10 + step) + 1 for step in range(len(losses))]


@pytest.mark.parametrize(
    "agent_signal", [signal.SIGTERM, signal.SIGKILL], ids=["agent-sigterm", "agent-killed"]
)
def test_a_rank_that_ignores_the_stop_does_not_outlive_its_launcher(
    tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch, agent_signal: int
) -> None:
    # Each rank ignores SIGINT and SIGTERM once interrupted; torchrun dies on the agent's
    # SIGTERM (or, with the agent killed, on its guard's), and its ranks, in sessions of
    # their own, would run on as orphans: the agent (or the guard) ends them with SIGKILL
    # when the grace periods are over.
    monkeypatch.setenv("TORCHRUN_TEST_STUBBORN", "1")
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(_config(tmp_path, 60, [1]), db=db)
    log = tmp_path / "agent.log"
    agent = _start_agent(db, sweep_id, log, "--grace-period", "1")
    try:
        ranks = _stop_when_both_ranks_logged(agent, out, log, agent_signal)
        agent.wait(timeout=120)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    _assert_ended(ranks, log)

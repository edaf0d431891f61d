"""The "k/N done" of the agent's progress lines and bar, and its best, with real agents and
real SQLite: N is what the sweep runs in all (its ``run_cap``; its grid's points not held by
a prior run), k its runs with a result (runs Ctrl-C killed, preempted or crashed are not
one, and their points are not counted twice), so k never exceeds N; the best is the sweep's
at each run end, another agent's included."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wandb
from faults_support import run_in_terminal, start_agent, wait_for

import localsweep
from localsweep.agent import _progress
from localsweep.agent._progress import SweepProgress
from localsweep.store import Store

pytestmark = pytest.mark.slow


def grid(values: list[Any]) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": values}},
    }


def capped(run_cap: int) -> dict[str, Any]:
    return {
        "method": "random",
        "run_cap": run_cap,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }


def done_counts(out: str) -> list[str]:
    """The "k/N" of each run-end line, in order."""
    return re.findall(r"\((\d+/\d+) done;", out)


def shown_agent(db: Path, sweep_id: str, function: Any, **kwargs: Any) -> str:
    """Run an agent whose progress lines go to a stream (not a terminal); its lines."""
    stream = io.StringIO()
    # As the agent's CLI makes it: the agent's count as `total`.
    shown = SweepProgress(Store(db), sweep_id, stream=stream, total=kwargs.get("count"))
    with shown as progress:
        assert progress.mode == "lines"
        localsweep.agent(
            sweep_id, function, db=db, quiet=True, on_run_end=progress.on_run_end, **kwargs
        )
    return stream.getvalue()


def test_a_grid_counts_only_the_points_prior_runs_do_not_hold(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    # 6 prior runs on 4 points (two runs each at x=1 and x=2).
    first = localsweep.run(grid([1, 2, 3, 4]), lambda c: 2.0, db=db, quiet=True)
    second = localsweep.run(grid([1, 2]), lambda c: 2.0, db=db, quiet=True)
    sweep_id = localsweep.sweep(
        grid([1, 2, 3, 4, 5, 6, 7, 8]), db=db, prior_runs=[first.id, second.id]
    )
    out = shown_agent(db, sweep_id, lambda c: float(c["x"]))
    assert done_counts(out) == ["1/4", "2/4", "3/4", "4/4"], out
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert sorted(r.config["x"] for r in runs) == [5, 6, 7, 8]


def test_a_grid_point_whose_run_was_interrupted_counts_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(grid([1, 2, 3, 4]), db=db)

    def ctrl_c_at_2(config: dict[str, Any]) -> float:
        if config["x"] == 2:
            raise KeyboardInterrupt  # Ctrl-C while the run runs
        return float(config["x"])

    stream = io.StringIO()
    with (
        SweepProgress(Store(db), sweep_id, stream=stream) as progress,
        pytest.raises(KeyboardInterrupt),
    ):
        localsweep.agent(sweep_id, ctrl_c_at_2, db=db, quiet=True, on_run_end=progress.on_run_end)
    assert done_counts(stream.getvalue()) == ["1/4"], stream.getvalue()
    states = [r.state for r in localsweep.Api(db).sweep(sweep_id).runs]
    assert states == ["finished", "killed"]

    # The restarted agent runs x=2 again, then 3 and 4: 3 runs, and the sweep's first
    # result is counted from the start.
    out = shown_agent(db, sweep_id, lambda c: float(c["x"]))
    assert done_counts(out) == ["2/4", "3/4", "4/4"], out


def test_run_cap_counts_the_sweeps_own_runs_not_prior_ones(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    old = localsweep.run(capped(5), lambda c: 0.5, db=db, quiet=True)
    sweep_id = localsweep.sweep(capped(3), db=db, prior_runs=[old.id])
    out = shown_agent(db, sweep_id, lambda c: 1.0)
    assert done_counts(out) == ["1/3", "2/3", "3/3"], out
    # The best is still the sweep's, a prior run's included.
    assert "best loss=0.5 (prior run" in out


def test_run_cap_counts_an_interrupted_run_as_no_result(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(capped(3), db=db)
    calls: list[int] = []

    def ctrl_c_second(config: dict[str, Any]) -> float:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return 1.0

    with pytest.raises(KeyboardInterrupt):
        localsweep.agent(sweep_id, ctrl_c_second, db=db, quiet=True)
    out = shown_agent(db, sweep_id, lambda c: 1.0)
    assert done_counts(out) == ["2/3", "3/3"], out
    states = sorted(r.state for r in localsweep.Api(db).sweep(sweep_id).runs)
    assert states == ["finished", "finished", "finished", "killed"]


def test_a_preempted_run_is_not_done_and_counts_once_when_resumed(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(capped(2), db=db)

    attempts: list[str] = []

    def preempt_first_attempt() -> None:
        with wandb.init() as run:
            attempts.append(run.id)
            wandb.log({"loss": 1.0})
            if len(attempts) == 1:  # a job at the end of its time slot
                run.mark_preempting()
                raise SystemExit(1)

    out = shown_agent(db, sweep_id, preempt_first_attempt)
    ends = [line for line in out.splitlines() if " done;" in line]
    assert [done_counts(line) for line in ends] == [["0/2"], ["1/2"], ["2/2"]], out
    assert f"run {attempts[0]} preempted " in ends[0]
    assert f"run {attempts[0]} finished " in ends[1]  # resumed by this agent
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert sorted((r.state, r.attempt) for r in runs) == [("finished", 1), ("finished", 2)]


def test_a_run_of_a_killed_agent_is_not_counted_against_run_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    monkeypatch.setenv("LOCALSWEEP_TEST_SIGNALS", str(signals))
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(capped(3), db=db)
    # An agent is killed (kill -9) while its run runs: the run is still `running` in the
    # database when the next agent starts, until that agent's claim marks it crashed.
    dead = start_agent(sweep_id, db, tmp_path / "dead.log", function="faults_train:until_released")
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run started", agents=[dead])
        os.kill(dead.pid, signal.SIGKILL)
        dead.process.wait()
    finally:
        dead.kill()
    (signals / "release").touch()
    out = shown_agent(Path(db), sweep_id, lambda c: 1.0)
    assert done_counts(out) == ["1/3", "2/3", "3/3"], out
    states = sorted(r.state for r in localsweep.Api(db).sweep(sweep_id).runs)
    assert states == ["crashed", "finished", "finished", "finished"]


def test_the_best_is_read_at_each_run_end_with_another_agents_runs(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    (tmp_path / "other.py").write_text("def good(config):\n    return 0.1\n")
    sweep_id = localsweep.sweep(grid([1, 2, 3]), db=db)
    calls: list[int] = []
    others: list[str] = []

    def run_another_agent_meanwhile(config: dict[str, Any]) -> float:
        calls.append(1)
        if len(calls) == 2:  # while this agent's second run runs, another agent does one
            proc = subprocess.run(
                [sys.executable, "-m", "localsweep.cli", "agent", sweep_id, "--db", str(db),
                 "--count", "1", "--function", "other:good", "--quiet"],
                cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            (other,) = [r for r in localsweep.Api(db).sweep(sweep_id).runs if r.metric == 0.1]
            others.append(other.id)
        return 5.0

    out = shown_agent(db, sweep_id, run_another_agent_meanwhile)
    ends = [line for line in out.splitlines() if " done;" in line]
    assert "best loss=5 " in ends[0], out
    # Its second run ends right after the other agent's: the line has the other's best
    # and counts its run.
    assert f"best loss=0.1 (run {others[0]})" in ends[1], out
    assert [c for line in ends for c in done_counts(line)] == ["1/3", "3/3"], out


def test_a_sweep_without_an_end_counts_this_agents_runs_out_of_its_count(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    config = capped(1)
    del config["run_cap"]
    sweep_id = localsweep.sweep(config, db=db)
    localsweep.agent(sweep_id, lambda c: 1.0, count=3, db=db, quiet=True)
    # No run_cap or grid: the sweep has no N, so "k/N" is this agent's, out of its count.
    out = shown_agent(db, sweep_id, lambda c: 1.0, count=2)
    assert done_counts(out) == ["1/2", "2/2"], out
    out = shown_agent(db, sweep_id, lambda c: 1.0, count=1)
    assert done_counts(out) == ["1/1"], out


def test_count_does_not_change_the_sweeps_n(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(grid([1, 2, 3, 4, 5]), db=db)
    assert done_counts(shown_agent(db, sweep_id, lambda c: 1.0, count=2)) == ["1/5", "2/5"]
    assert done_counts(shown_agent(db, sweep_id, lambda c: 1.0, count=9)) == ["3/5", "4/5", "5/5"]


def _counting_store(db: Path, read: list[int]) -> Store:
    """The real store, noting in ``read`` how many rows each progress read returns."""

    class CountingStore(Store):
        def runs_since(self, *args: Any, **kwargs: Any) -> Any:
            found = super().runs_since(*args, **kwargs)
            read.append(len(found))
            return found

    return CountingStore(db)


def test_a_run_end_reads_only_the_runs_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress, "READ_INTERVAL", 0.0)  # read at every run end
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(grid(list(range(30))), db=db)
    localsweep.agent(sweep_id, lambda c: 1.0, count=25, db=db, quiet=True)
    read: list[int] = []
    stream = io.StringIO()
    with SweepProgress(_counting_store(db, read), sweep_id, stream=stream) as progress:
        localsweep.agent(sweep_id, lambda c: 1.0, db=db, quiet=True, on_run_end=progress.on_run_end)
    # The sweep's runs once at the start, then at each run end the run that ended.
    assert read == [25, 1, 1, 1, 1, 1]
    assert done_counts(stream.getvalue()) == ["26/30", "27/30", "28/30", "29/30", "30/30"]


@pytest.mark.parametrize(("interval", "shown"), [(0.0, "28/30"), (3600.0, "26/30")])
def test_another_agents_runs_show_at_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interval: float, shown: str
) -> None:
    """The agent's own run counts at once; the store is read again at most every
    READ_INTERVAL seconds (a read costs as much as a short run's bookkeeping)."""
    monkeypatch.setattr(_progress, "READ_INTERVAL", interval)
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(grid(list(range(30))), db=db)
    localsweep.agent(sweep_id, lambda c: 1.0, count=25, db=db, quiet=True)
    read: list[int] = []
    stream = io.StringIO()
    with SweepProgress(_counting_store(db, read), sweep_id, stream=stream) as progress:
        localsweep.agent(sweep_id, lambda c: 1.0, count=2, db=db, quiet=True)  # another agent
        localsweep.agent(
            sweep_id, lambda c: 1.0, count=1, db=db, quiet=True, on_run_end=progress.on_run_end
        )
    assert done_counts(stream.getvalue()) == [shown]
    assert read == ([25, 3] if interval == 0.0 else [25])


BAR_SCRIPT = """
import localsweep
def grid(values):
    return {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": values}}}
first = localsweep.run(grid([1, 2]), lambda c: 2.0, db="bar.db", quiet=True)
second = localsweep.run(grid([1]), lambda c: 2.0, db="bar.db", quiet=True)
sweep_id = localsweep.sweep(grid([1, 2, 3, 4]), db="bar.db", prior_runs=[first.id, second.id])
localsweep.agent(sweep_id, lambda c: float(c["x"]), db="bar.db")
"""


def test_the_bar_counts_as_the_lines_do(tmp_path: Path) -> None:
    (tmp_path / "bar.py").write_text(BAR_SCRIPT)
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", run_in_terminal(tmp_path / "bar.py"))
    # 3 prior runs on 2 of the 4 points: the agent runs the other 2.
    shown = set(re.findall(r"\b(\d+)/(\d+)\b", out))
    assert ("2", "2") in shown, out
    assert all(total == "2" for _done, total in shown), out
    assert "best loss=2" in out  # a prior run's

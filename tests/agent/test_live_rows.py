"""What a running run logged, and what its code set in its summary by hand, reaches the
store within about a second, even when the run then works a long epoch without logging:
``show``, ``watch``, the ``ui`` and :class:`localsweep.Api` show it while it runs, in
program mode as in-process. Each row is written once."""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_support import PROGRAMS, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow

#: Long enough for a busy machine; rows and summaries come within about a second.
WAIT = 60.0


def _sweep(db: str, *, program: bool) -> str:
    config: dict[str, object] = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"value": 1}},
    }
    if program:
        config["program"] = str(PROGRAMS / "long_epoch.py")
    return localsweep.sweep(config, db=db)


@pytest.mark.parametrize("program", [True, False], ids=["program", "in-process"])
def test_a_run_in_a_long_epoch_shows_its_last_row_and_hand_set_summary(
    tmp_path: Path, signals: Path, program: bool
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _sweep(db, program=program)
    function = None if program else "long_epoch:train"
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", function=function)
    api = localsweep.Api(db)

    def running() -> localsweep.Run | None:
        runs = api.sweep(sweep_id).runs
        return runs[0] if runs else None

    def shows(losses: list[float], **summary: object) -> bool:
        run = running()
        if run is None or [row["loss"] for row in run.history()] != losses:
            return False
        return all(run.summary.get(key) == value for key, value in summary.items())

    try:
        # The run now waits without logging: its second row and the summary value it set
        # by hand are in the store meanwhile, not only once it logs again or ends.
        wait_for(lambda: any(signals.glob("logged-*")), "the run logged", agents=[agent])
        wait_for(
            lambda: shows([3.0, 2.0], loss=2.0, best_epoch=1),
            "the second row and the hand-set summary while the run waits",
            agents=[agent],
            timeout=WAIT,
        )
        run = running()
        assert run is not None and run.state == "running" and run.metric == 2.0
        # A summary value set alone, with no row after it, is written too.
        (signals / "summary").touch()
        wait_for(
            lambda: shows([3.0, 2.0], best_epoch=1, note="halfway"),
            "the summary value set during the epoch",
            agents=[agent],
            timeout=WAIT,
        )
    finally:
        (signals / "summary").touch()
        (signals / "release").touch()
    assert agent.wait() == 0, agent.output()
    (run,) = api.sweep(sweep_id).runs
    assert run.state == "finished"
    assert [row["loss"] for row in run.history()] == [3.0, 2.0, 1.0]  # each row once
    assert (run.summary["best_epoch"], run.summary["note"], run.metric) == (1, "halfway", 1.0)

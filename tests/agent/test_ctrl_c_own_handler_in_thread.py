"""A training run in the agent's own process (the default, ``isolation="thread"``) that
installs a SIGINT handler of its own: that handler is the training's for its run only, and
a Ctrl-C it takes still stops the agent (docs/faults.md, "Ctrl-C")."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from faults_support import grid, no_traceback_of_ours, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow


def test_a_ctrl_c_the_training_catches_ends_its_run_finished_and_stops_the_agent(
    tmp_path: Path, signals: Path
) -> None:
    """The handler the first run installed stayed for the agent's life: each Ctrl-C cut a
    run short, stored as a whole ``finished`` one, and the agent never stopped."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(3), db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="own_sigint_train:stops_its_loop",
        new_session=True,
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run logged", agents=[agent])
        os.killpg(agent.pid, signal.SIGINT)  # a terminal's Ctrl-C
        assert agent.wait(timeout=120) == 130, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    assert "caught, returning" in output
    no_traceback_of_ours(output)
    assert "Interrupted; no run was in progress." in output, output
    assert f"Sweep {sweep_id} goes on with" in output
    runs = localsweep.Api(db).sweep(sweep_id).runs
    # The run that caught it ended as its code ended it; no other run started.
    assert [(r.state, r.end_reason, r.config["x"]) for r in runs] == [("finished", None, 0)], output
    assert runs[0].summary["loss"] == -0.5


def test_the_training_s_sigint_handler_is_gone_after_its_run(offline: Path) -> None:
    """In Python: ``localsweep.run`` leaves SIGINT as it found it, whatever handler the
    training installed (a notebook's interrupt, a script's Ctrl-C work again)."""
    import wandb

    before = signal.getsignal(signal.SIGINT)
    seen: list[object] = []

    def train() -> None:
        seen.append(signal.getsignal(signal.SIGINT))  # the agent's, each run
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as PyTorch Lightning leaves it
        with wandb.init() as run:
            run.log({"loss": float(run.config["x"])})

    try:
        localsweep.run(grid(2), train, db=offline / "s.db", quiet=True)
        assert signal.getsignal(signal.SIGINT) is before
        assert seen[0] is seen[1] and seen[1] is not signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
        wandb.teardown()


def test_a_training_that_changes_folder_leaves_the_agent_where_it_was(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``os.chdir`` in the first run moved the next runs' parameter files (and a stray
    ``wandb/`` folder) to where that run went, and the caller's working directory too."""
    import wandb

    monkeypatch.delenv("WANDB_DIR")  # wandb's folder: the working directory's
    elsewhere = offline / "elsewhere"
    elsewhere.mkdir()

    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": float(run.config["x"])})
        os.chdir(elsewhere)

    try:
        sweep = localsweep.run(grid(2), train, db=offline / "s.db", quiet=True)
        assert Path.cwd() == offline
    finally:
        os.chdir(offline)
        wandb.teardown()
    assert [r.state for r in sweep.runs] == ["finished", "finished"]
    assert not (elsewhere / "wandb").exists()
    params = sorted(p.name for p in (offline / "wandb" / f"sweep-{sweep.id}").glob("config-*"))
    assert params == sorted(f"config-{r.id}.yaml" for r in sweep.runs)


@pytest.mark.parametrize(
    ("then", "state"), [("returns", "finished"), ("raises", "killed")], ids=["returns", "raises"]
)
def test_a_ctrl_c_taken_by_the_trainings_handler_stops_localsweep_run(
    offline: Path, then: str, state: str
) -> None:
    """In Python, as at the command line: the run ends as its code ended it (``killed``,
    end reason ``interrupted``, when the code raised after the Ctrl-C, as a run's process
    that ends so), and ``localsweep.run`` raises :class:`AgentInterrupted` before another."""
    from localsweep.agent import AgentInterrupted

    before = signal.getsignal(signal.SIGINT)

    def train(config: dict[str, object]) -> float:
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C, taken by the handler above
        if then == "raises":
            raise RuntimeError("ended on the Ctrl-C")
        return 1.0

    try:
        with pytest.raises(AgentInterrupted):
            localsweep.run(grid(3), train, db=offline / "s.db", quiet=True)
    finally:
        signal.signal(signal.SIGINT, before)
    (sweep,) = localsweep.Api(offline / "s.db").sweeps()
    assert [r.state for r in sweep.runs] == [state]
    if state == "killed":
        assert sweep.runs[0].end_reason == "interrupted"

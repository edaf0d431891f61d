"""What a person watching a sweep sees, with real wandb offline: progress lines as runs start
and end, the sweep's best, the metric read from define_metric summaries, and a warning when
the sweep metric is never logged."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import wandb
from faults_support import run_in_terminal

import localsweep
from localsweep.agent._progress import SweepProgress
from localsweep.store import Store

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow


def grid(values: list[Any], metric: str = "loss", goal: str = "minimize") -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": metric, "goal": goal},
        "parameters": {"x": {"values": values}},
    }


def test_define_metric_min_summary_is_read_as_the_metric(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            wandb.define_metric("loss", summary="min")
            for value in (3.0, run.config.x, 2.0):
                wandb.log({"loss": value})

    sweep = localsweep.run(grid([1.0, 0.5]), train, db=tmp_path / "s.db", quiet=True)
    runs = {r.config["x"]: r for r in sweep.runs}
    assert isinstance(runs[1.0].summary["loss"], dict), runs[1.0].summary
    assert runs[1.0].metric == 1.0
    assert runs[0.5].metric == 0.5
    best = sweep.best_run()
    assert best is not None and best.id == runs[0.5].id


def test_define_metric_max_summary_with_goal_maximize(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            wandb.define_metric("acc", summary="max")
            for value in (0.1, run.config.x, 0.2):
                wandb.log({"acc": value})

    sweep = localsweep.run(
        grid([0.9], metric="acc", goal="maximize"), train, db=tmp_path / "s.db", quiet=True
    )
    assert [r.metric for r in sweep.runs] == [0.9]


@pytest.mark.parametrize(("summary", "goal"), [("mean", "minimize"), ("min", "maximize")])
def test_a_summary_without_the_goals_value_takes_the_last_logged_value(
    tmp_path: Path, summary: str, goal: str
) -> None:
    """``define_metric(summary="mean")`` (or ``"min"`` under ``goal: maximize``) gives no
    value for the goal: the metric is the last logged value, as python-api.md says, not
    the one before it (the last row was still open when the run ended); and the best
    run, and best_run(order=the metric), follow it."""

    def train() -> None:
        with wandb.init() as run:
            wandb.define_metric("loss", summary=summary)
            for value in run.config.x:
                wandb.log({"loss": value})

    seqs = [[5, 4, 3, 2, 1], [5, 5, 5, 5, 1.5], [9, 9, 9, 1.2, 9]]
    sweep = localsweep.run(grid(seqs, goal=goal), train, db=tmp_path / "s.db", quiet=True)
    assert [r.metric for r in sweep.runs] == [1, 1.5, 9]
    best = sweep.best_run()
    assert best is not None and best.metric == (1 if goal == "minimize" else 9)
    assert sweep.best_run(order="loss" if goal == "maximize" else "+loss") == best


@pytest.mark.parametrize("isolation", ["thread", "process"])
@pytest.mark.parametrize("custom", ["define_metric", "summary_write"])
def test_the_last_row_logged_with_a_step_counts_toward_the_summary(
    tmp_path: Path, custom: str, isolation: str
) -> None:
    """A row logged with ``step=`` stays open until the next step or the run's end; the
    run's summary (and so its metric and the best run) must include it, as on W&B."""

    def train() -> None:
        with wandb.init() as run:
            if custom == "define_metric":
                wandb.define_metric("loss", summary="min")
            else:
                run.summary["loss"] = 0.7
            for step, value in enumerate(run.config.x):
                run.log({"loss": value}, step=step)

    sweep = localsweep.run(
        grid([[0.5, 0.1], [0.3, 0.4]]),
        train,
        db=tmp_path / "s.db",
        quiet=True,
        isolation=isolation,
    )
    runs = sorted(sweep.runs, key=lambda r: r.number)
    if custom == "define_metric":
        assert [r.metric for r in runs] == [0.1, 0.3]
    else:
        assert [r.metric for r in runs] == [0.1, 0.4]
    assert [len(r.history()) for r in runs] == [2, 2]  # no empty row written
    best = sweep.best_run()
    assert best is not None and best.id == runs[0].id


def test_a_metric_never_logged_is_warned_once_naming_the_closest_key(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    def train() -> None:
        with wandb.init() as run:
            wandb.log({"val_loss": run.config.x, "train_loss": 1.0})

    localsweep.run(grid([1, 2, 3], metric="valid_loss"), train, db=tmp_path / "s.db")
    err = capfd.readouterr().err
    assert err.count("'valid_loss' was never logged") == 1, err
    assert "Did you mean 'val_loss'?" in err
    assert "train_loss" in err


def test_a_metric_logged_only_as_nan_is_said_to_have_no_finite_value(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A diverged training logs its metric, as NaN: the warning must not say it was
    never logged and ask whether the user meant that very key."""

    def train() -> None:
        with wandb.init():
            wandb.log({"val_loss": 1.0})
            wandb.log({"val_loss": float("nan")})

    localsweep.run(grid([1], metric="val_loss"), train, db=tmp_path / "s.db")
    err = capfd.readouterr().err
    assert "'val_loss' has no finite value" in err, err
    assert "never logged" not in err and "Did you mean" not in err
    # One run diverged: it is this run that has no result, not every run.
    assert "This run has no result" in err and "no run is best" not in err


def test_a_metric_logged_as_text_is_said_to_be_text(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    def train() -> None:
        with wandb.init():
            wandb.log({"m": "0.833"})

    localsweep.run(grid([1], metric="m"), train, db=tmp_path / "s.db")
    err = " ".join(capfd.readouterr().err.split())
    assert "'m' was logged as text, not a number" in err and "'0.833'" in err, err
    assert "NaN" not in err


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    values = {1: 3.0, 2: 1.0, 3: 2.0}

    def train(config: dict[str, Any]) -> float:
        return values[config["x"]]

    sweep_id = localsweep.sweep(grid([1, 2, 3]), db=db)
    stream = io.StringIO()  # not a terminal
    store = Store(db)
    progress = SweepProgress(store, sweep_id, total=3, stream=stream)
    assert progress.mode == "lines"
    lines: list[str] = []

    def on_end(run: Any) -> None:
        # Each line is written as the run ends, not at exit.
        lines.append(stream.getvalue())

    from localsweep._entry import execute

    with progress:
        execute(
            store,
            sweep_id,
            train,
            project=None,
            entity=None,
            count=None,
            on_run_end=lambda r: (progress.on_run_end(r), on_end(r)),
        )
    assert len(lines) == 3
    out = stream.getvalue()
    assert "\x1b[" not in out and "\r" not in out  # nothing that redraws
    ends = [line for line in out.splitlines() if " finished loss=" in line]
    assert len(ends) == 3
    assert "(3/3 done; best loss=1 " in ends[-1]


def test_run_prints_a_line_per_run_start_and_end_and_quiet_prints_none(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    localsweep.run(grid([1, 2]), lambda c: c["x"] * 1.0, db=tmp_path / "s.db")
    err = capfd.readouterr().err
    assert len(re.findall(r"\[localsweep\] run \w+ started .*: x=\d", err)) == 2, err
    assert len(re.findall(r"\[localsweep\] run \w+ finished loss=\d", err)) == 2, err
    localsweep.run(grid([1, 2]), lambda c: c["x"] * 1.0, db=tmp_path / "s.db", quiet=True)
    assert "[localsweep]" not in capfd.readouterr().err


def test_best_is_the_sweeps_best_among_finished_runs(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(grid([1, 2, 3, 4]), db=db)

    def failing(config: dict[str, Any]) -> float:
        raise RuntimeError("no")

    stream = io.StringIO()
    store = Store(db)
    with SweepProgress(store, sweep_id, stream=stream) as progress:
        localsweep.agent(
            sweep_id, failing, count=2, db=db, quiet=True, on_run_end=progress.on_run_end
        )
    assert "best" not in stream.getvalue().replace("no best yet", "")
    # A first agent finishes a run with loss 1; a restarted agent's best is the sweep's.
    localsweep.agent(sweep_id, lambda c: 1.0, count=1, db=db, quiet=True)
    stream = io.StringIO()
    with SweepProgress(store, sweep_id, stream=stream) as progress:
        localsweep.agent(
            sweep_id, lambda c: 5.0, count=1, db=db, quiet=True, on_run_end=progress.on_run_end
        )
    assert "best loss=1 " in stream.getvalue()


def test_a_best_that_is_a_prior_run_is_named_as_one(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    old = localsweep.run(grid([1]), lambda c: 0.5, db=db, quiet=True)
    sweep_id = localsweep.sweep(grid([1, 2, 3]), db=db, prior_runs=[old.id])
    stream = io.StringIO()
    with SweepProgress(Store(db), sweep_id, stream=stream) as progress:
        localsweep.agent(
            sweep_id, lambda c: 5.0, count=1, db=db, quiet=True, on_run_end=progress.on_run_end
        )
    (prior,) = localsweep.Api(db).sweep(sweep_id).prior_runs  # its row here, a copy of old's
    assert f"best loss=0.5 (prior run {prior.id})" in stream.getvalue(), stream.getvalue()


CHILD = """\
import sys, time
import wandb

run = wandb.init()
print(f"hello-from-{run.config.x}", flush=True)
if run.config.x == 0:
    print("about to hang", flush=True)
    time.sleep(120)
if run.config.x == 2:
    raise RuntimeError("child broke on purpose")
wandb.log({"loss": float(run.config.x)})
"""


def _program_sweep(tmp_path: Path, values: list[int]) -> str:
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "p.yaml").write_text(
        "program: child.py\nmethod: grid\nmetric: {name: loss}\n"
        f"parameters:\n  x: {{values: {values}}}\n"
    )
    proc = cli_at(tmp_path, "sweep", "p.yaml", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_program_output_is_streamed_with_run_ids_and_kept_in_files(tmp_path: Path) -> None:
    sweep_id = _program_sweep(tmp_path, [1, 3])
    proc = cli_at(tmp_path, "agent", sweep_id, "--db", "s.db", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    runs = {r.config["x"]: r for r in localsweep.Api(tmp_path / "s.db").sweep(sweep_id).runs}
    for x, run in runs.items():
        assert f"{run.id} | hello-from-{x}" in proc.stdout
        assert run.stdout_path is not None
        assert f"hello-from-{x}" in Path(run.stdout_path).read_text()
        # wandb inside the child keeps its console in files/output.log, as under wandb agent
        assert run.dir is not None
        assert f"hello-from-{x}" in (Path(run.dir) / "files" / "output.log").read_text()


def test_one_worker_streams_output_as_is_and_a_traceback_shows_once(tmp_path: Path) -> None:
    sweep_id = _program_sweep(tmp_path, [2])
    proc = cli_at(tmp_path, "agent", sweep_id, "--db", "s.db")
    assert "hello-from-2\n" in proc.stdout
    assert " | hello-from-2" not in proc.stdout
    assert proc.stderr.count('RuntimeError("child broke on purpose")') == 1, proc.stderr
    # The run's end line gives the error's last line, as for a function's run.
    (run,) = localsweep.Api(tmp_path / "s.db").sweep(sweep_id).runs
    assert f"run {run.id} failed loss=- " in proc.stderr, proc.stderr
    assert (
        "): the program exited with code 1: RuntimeError: child broke on purpose\n" in proc.stderr
    ), proc.stderr


def test_a_function_runs_traceback_shows_once(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text(
        "import wandb\n\ndef train():\n    with wandb.init():\n"
        "        raise RuntimeError('broken on purpose')\n\n"
        "def bare(config):\n    raise RuntimeError('broken on purpose')\n"
    )
    (tmp_path / "g.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
    for function in ("t:train", "t:bare"):
        sweep_id = cli_at(tmp_path, "sweep", "g.yaml", "--db", "s.db").stdout.strip()
        proc = cli_at(tmp_path, "agent", sweep_id, "--db", "s.db", "-f", function)
        assert proc.stderr.count("raise RuntimeError('broken on purpose')") == 1, proc.stderr
        assert "failed" in proc.stderr and "RuntimeError: broken on purpose" in proc.stderr


def test_a_timeout_says_so_with_the_output_before_the_signals(tmp_path: Path) -> None:
    sweep_id = _program_sweep(tmp_path, [0])
    proc = cli_at(
        tmp_path, "agent", sweep_id, "--db", "s.db", "--timeout", "4", "--grace-period", "1"
    )
    err = proc.stderr
    assert "timed out after 4 s" in err, err
    section = err[err.index("last output before the timeout") :]
    assert "about to hang" in section
    (run,) = localsweep.Api(tmp_path / "s.db").sweep(sweep_id).runs
    assert run.error is not None and "about to hang" in run.error


def test_show_and_report_say_the_metric_was_never_logged(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text("def train(config):\n    return {'val_loss': 1.0}\n")
    (tmp_path / "g.yaml").write_text(
        "method: grid\nmetric: {name: valid_loss}\nparameters:\n  x: {values: [1, 2]}\n"
    )
    proc = cli_at(tmp_path, "run", "g.yaml", "-f", "t:train", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    (sweep,) = localsweep.Api(tmp_path / "s.db").sweeps()
    show = cli_at(tmp_path, "show", sweep.id, "--db", "s.db")
    assert "'valid_loss' was never logged" in show.stderr
    assert "Did you mean 'val_loss'?" in show.stderr
    report = cli_at(tmp_path, "report", sweep.id, "--db", "s.db", "-o", "r.html")
    assert report.returncode == 0, report.stderr
    assert "never logged" in report.stderr
    assert "never logged" in (tmp_path / "r.html").read_text()


def test_runs_without_a_project_go_to_wandbs_default_project(tmp_path: Path) -> None:
    from localsweep.wandb_bridge._datastore import wait_for_exit_record

    def train() -> None:
        with wandb.init() as run:
            wandb.log({"loss": run.config.x})

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db", quiet=True)
    (run,) = sweep.runs
    assert run.dir is not None
    summary = wait_for_exit_record(Path(run.dir) / f"run-{run.id}.wandb", timeout=60)
    assert summary.project == "uncategorized"


BAR_SCRIPT = """
import localsweep
cfg = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}
localsweep.run(cfg, lambda c: float(c["x"]), db="bar.db")
"""


def test_localsweep_run_in_a_terminal_shows_a_progress_bar(tmp_path: Path) -> None:
    (tmp_path / "bar.py").write_text(BAR_SCRIPT)
    out = run_in_terminal(tmp_path / "bar.py")
    assert "sweep ls-" in out and "2/2" in out, out
    assert "best loss=1" in out
    assert "[localsweep] run" not in out  # the bar, not the plain lines


def test_a_timeout_for_an_in_process_function_names_the_cli_option(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text("def train(config):\n    return config['x']\n")
    (tmp_path / "g.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
    sweep_id = cli_at(tmp_path, "sweep", "g.yaml", "--db", "s.db").stdout.strip()
    proc = cli_at(tmp_path, "agent", sweep_id, "--db", "s.db", "-f", "t:train", "--timeout", "5")
    # A wrong combination of options: the CLI's spelling of the fix, and exit 2.
    assert proc.returncode == 2, proc.stderr
    assert "--timeout needs each run in its own process: add --isolation process" in proc.stderr
    assert "isolation='process'" not in proc.stderr
    assert localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs == []
    workers = cli_at(tmp_path, "agent", sweep_id, "--db", "s.db", "-f", "t:train", "--workers",
                     "2")  # fmt: skip
    assert workers.returncode == 2, workers.stderr
    assert "--workers 2 needs each run of the function in its own process: add --isolation " \
        "process" in " ".join(workers.stderr.split())  # fmt: skip
    # `run` says so before it makes a sweep for nothing.
    run = cli_at(tmp_path, "run", "g.yaml", "--db", "r.db", "-f", "t:train", "--timeout", "5")
    assert run.returncode == 2, run.stderr
    assert "Created sweep" not in run.stderr and not (tmp_path / "r.db").exists()
    ok = cli_at(tmp_path, "agent", sweep_id, "--db", "s.db", "-f", "t:train", "--timeout", "60",
                "--isolation", "process")  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_the_workers_report_counts_every_workers_runs_not_counted() -> None:
    # "Agent done: N run(s), M not counted": M summed over the workers (it was 0 with
    # --workers 2 whatever the workers lost).
    from localsweep.agent._agent import AgentReport
    from localsweep.agent._workers import _merge

    reports = [AgentReport(), AgentReport(), AgentReport()]
    reports[0].lease_lost, reports[2].lease_lost = 1, 2
    assert _merge(reports).lease_lost == 3


def test_a_run_that_lacks_the_metric_others_logged_is_said_to_have_no_result(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The first run logs the metric, the second does not: the warning is about that run,
    not that no run is best (the closing summary names the first as best)."""

    def train() -> None:
        with wandb.init() as run:
            key = "val_loss" if run.config["x"] == 1 else "acc"
            wandb.log({key: 0.5})

    localsweep.run(grid([1, 2], metric="val_loss"), train, db=tmp_path / "s.db")
    err = capfd.readouterr().err
    assert "'val_loss' was never logged" in err, err
    assert "This run has no result" in err and "no run is best" not in err


def test_a_later_agents_run_that_lacks_the_metric_is_said_to_have_no_result(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The run with the metric was another call's (another agent's, yesterday's): the
    warning still says it is this run that has no result."""

    def train() -> None:
        with wandb.init() as run:
            key = "val_loss" if run.config["x"] == 1 else "acc"
            wandb.log({key: 0.5})

    db = tmp_path / "s.db"
    sweep = localsweep.run(grid([1, 2], metric="val_loss"), train, db=db, count=1)
    capfd.readouterr()
    localsweep.agent(sweep.id, train, db=db, count=1)
    err = capfd.readouterr().err
    assert "'val_loss' was never logged" in err, err
    assert "This run has no result" in err and "no run is best" not in err

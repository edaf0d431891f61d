"""Program mode: each run is a real child process running a real wandb script, offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faults_support import alive

from localsweep.records import RunState
from localsweep.store import Store
from localsweep.wandb_bridge._datastore import find_run_file, read_run_file

pytestmark = pytest.mark.slow


def wandb_file(run_dir: str | None) -> Any:
    assert run_dir is not None
    path = find_run_file(run_dir)
    assert path is not None
    return read_run_file(path)


def test_argparse_program_gets_its_parameters_and_its_metrics_are_recorded(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "train_argparse.py",
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"lr": {"values": [0.5]}, "epochs": {"value": 3}},
        }
    )
    run_program(sweep_id)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.exit_code == 0
    assert run.summary["argv"] == ["--epochs=3", "--lr=0.5"]
    assert [row["loss"] for row in store.history(run.id)] == [1.5, 1.0, 0.5]
    assert [row["_step"] for row in store.history(run.id)] == [0, 1, 2]
    assert run.metric == 0.5
    on_disk = wandb_file(run.dir)
    assert on_disk.finished and on_disk.exit_code == 0
    assert on_disk.config == {"batch_size": 16, "epochs": 3, "lr": 0.5}
    assert on_disk.sweep_id == sweep_id


def test_the_name_a_program_gives_its_run_is_the_runs_name(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    # As W&B shows the run after sync, and as function mode records it; a program that
    # names none keeps localsweep's run-N.
    from localsweep.api import Api

    sweep_id = make_sweep(
        {
            "program": "named_run.py",
            "method": "grid",
            "metric": {"name": "loss"},
            "parameters": {"lr": {"values": [0.5, 0.25]}, "rename": {"values": [0, 1]}},
        }
    )
    run_program(sweep_id)
    runs = store.list_runs(sweep_id)
    assert all(r.state is RunState.FINISHED for r in runs), [r.error for r in runs]
    named = {(r.config["lr"], r.config["rename"]): r.name for r in runs}
    assert named == {
        (0.5, 0): "lr-0.5",
        (0.25, 0): "lr-0.25",
        (0.5, 1): "renamed-0.5",
        (0.25, 1): "renamed-0.25",
    }
    assert {r.name for r in Api(store.url).sweep(sweep_id).runs} == set(named.values())
    plain = make_sweep(
        {"program": "train_argparse.py", "method": "grid", "parameters": {"lr": {"value": 0.1}}}
    )
    run_program(plain)
    [run] = store.list_runs(plain)
    assert run.name is None
    assert Api(store.url).sweep(plain).runs[0].name == "run-0"


def test_program_output_goes_to_files_in_the_sweep_dir(
    store: Store, offline: Path, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {"program": "train_argparse.py", "method": "grid", "parameters": {"lr": {"value": 0.1}}}
    )
    run_program(sweep_id)
    [run] = store.list_runs(sweep_id)
    sweep_dir = offline / "wandb" / f"sweep-{sweep_id}"
    assert run.stdout_path == str(sweep_dir / f"{run.id}.out")
    assert run.stderr_path == str(sweep_dir / f"{run.id}.err")
    assert "trained with" in Path(run.stdout_path).read_text()
    assert (sweep_dir / f"config-{run.id}.yaml").is_file()


def test_hydra_style_program_gets_key_value_arguments(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "hydra_style.py",
            "command": ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
            "method": "grid",
            "metric": {"name": "loss"},
            "parameters": {"lr": {"value": 0.25}, "layers": {"value": 4}},
        }
    )
    run_program(sweep_id)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.summary["overrides"] == {"layers": "4", "lr": "0.25"}
    assert run.metric == 1.0


def test_program_reads_nested_parameters_from_the_args_json_file(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "json_file.py",
            "command": ["${env}", "${interpreter}", "${program}", "${args_json_file}"],
            "method": "grid",
            "parameters": {
                "opt": {"parameters": {"lr": {"values": [0.01]}, "name": {"value": "adam"}}}
            },
        }
    )
    run_program(sweep_id)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.summary["params"] == {"opt": {"lr": 0.01, "name": "adam"}}
    assert store.history(run.id)[0]["loss"] == 0.01


def test_true_becomes_a_bare_flag_and_false_is_left_out(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "flags.py",
            "command": ["${env}", "${interpreter}", "${program}", "${args_no_boolean_flags}"],
            "method": "grid",
            "parameters": {"augment": {"values": [True, False]}, "lr": {"value": 0.1}},
        }
    )
    run_program(sweep_id)
    argv = {run.config["augment"]: run.summary["argv"] for run in store.list_runs(sweep_id)}
    assert argv == {True: ["--augment", "--lr=0.1"], False: ["--lr=0.1"]}
    assert {r.summary["augment"] for r in store.list_runs(sweep_id)} == {True, False}


def test_child_runs_offline_with_fast_flushes_and_without_the_agents_wandb_service(
    store: Store,
    make_sweep: Callable[..., str],
    run_program: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WANDB_SERVICE", "3-1-unix-/nonexistent/socket")
    # The 1 s default is for a caller that set no flush interval (one it set is kept).
    monkeypatch.delenv("WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL", raising=False)
    sweep_id = make_sweep(
        {"program": "env_probe.py", "method": "grid", "parameters": {"x": {"value": 1}}}
    )
    run_program(sweep_id, env={"CUDA_VISIBLE_DEVICES": "3"})
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.summary["env"] == {
        "WANDB_SERVICE": None,
        "WANDB_MODE": "offline",
        "WANDB_PROJECT": "uncategorized",
        "WANDB_SWEEP_ID": sweep_id,
        "WANDB_RUN_ID": run.id,
        "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL": "1",
        "CUDA_VISIBLE_DEVICES": "3",
    }


def test_shared_service_is_passed_to_the_child_only_when_asked(
    store: Store,
    make_sweep: Callable[..., str],
    run_program: Callable[..., Any],
    shared_service: None,
) -> None:
    sweep_id = make_sweep(
        {"program": "env_probe.py", "method": "grid", "parameters": {"x": {"values": [1, 2]}}}
    )
    run_program(sweep_id, count=1, share_service=True)
    run_program(sweep_id, count=1, share_service=False)
    shared, own = store.list_runs(sweep_id)
    assert shared.state is RunState.FINISHED and own.state is RunState.FINISHED
    assert shared.summary["env"]["WANDB_SERVICE"] is not None
    assert own.summary["env"]["WANDB_SERVICE"] is None
    assert wandb_file(shared.dir).exit_code == 0


def test_crashing_program_fails_with_its_traceback_and_keeps_its_rows(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "crash.py",
            "method": "grid",
            "metric": {"name": "loss"},
            "parameters": {"x": {"value": 1}},
        }
    )
    run_program(sweep_id)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED
    assert run.exit_code == 1
    assert "exited with code 1" in (run.error or "")
    assert "ValueError: the model diverged at step 2" in (run.error or "")
    assert [row["loss"] for row in store.history(run.id)] == [1.0, 0.5]
    assert wandb_file(run.dir).exit_code == 1


@pytest.mark.parametrize("code", [0, 3])
def test_program_without_wandb_is_judged_by_its_exit_code(
    code: int, store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {"program": "no_wandb.py", "method": "grid", "parameters": {"code": {"value": code}}}
    )
    run_program(sweep_id)
    [run] = store.list_runs(sweep_id)
    assert run.state is (RunState.FINISHED if code == 0 else RunState.FAILED)
    assert run.exit_code == code
    assert run.dir is None
    if code:
        assert "no wandb here" in (run.error or "")


def test_program_past_its_timeout_is_stopped_with_its_whole_process_group(
    store: Store, offline: Path, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {"program": "hang.py", "method": "grid", "parameters": {"x": {"value": 1}}}
    )
    run_program(sweep_id, timeout=4, grace_period=0.5)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED
    assert (run.error or "").startswith(
        "timed out after 4 s; sent SIGINT, then SIGTERM, then SIGKILL"
    )
    assert run.exit_code == 128 + 9
    assert run.end_reason == "timeout"
    grandchild = int((offline / "grandchild.pid").read_text())
    assert not alive(grandchild)


def test_program_past_its_timeout_that_ignores_sigint_fails_and_is_not_resumed(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    # Only SIGTERM ends it: exit status 143 from the agent's own escalation is no
    # preemption (which would resume it, and time it out again, forever).
    sweep_id = make_sweep(
        {"program": "ignores_sigint.py", "method": "grid", "parameters": {"x": {"value": 1}}}
    )
    run_program(sweep_id, count=1, timeout=3, grace_period=1)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED, run.error
    assert run.attempt == 1
    assert (run.error or "").startswith("timed out after 3 s; sent SIGINT, then SIGTERM")
    assert run.exit_code == 128 + 15


@pytest.mark.parametrize("share_service", [False, True], ids=["own-service", "shared-service"])
def test_program_killed_by_sigkill_is_not_a_success(
    share_service: bool,
    store: Store,
    make_sweep: Callable[..., str],
    run_program: Callable[..., Any],
    shared_service: None,
) -> None:
    sweep_id = make_sweep(
        {"program": "sigkill_self.py", "method": "grid", "parameters": {"x": {"value": 1}}}
    )
    run_program(sweep_id, share_service=share_service)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED
    assert run.exit_code == 128 + 9
    assert "killed by SIGKILL" in (run.error or "")


def test_hyperband_stops_a_bad_child_which_keeps_every_row_it_logged(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "curve.py",
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
            "parameters": {
                "quality": {"values": [1, 100]},
                "epochs": {"value": 30},
                "pace": {"value": 0.2},
            },
        }
    )
    run_program(sweep_id)
    good, bad = store.list_runs(sweep_id)
    assert good.state is RunState.FINISHED, good.error
    assert bad.state is RunState.EARLY_TERMINATED
    assert bad.stopped_at_band == 2
    on_disk = wandb_file(bad.dir)
    assert on_disk.finished  # SIGINT let wandb finish the run
    assert 2 <= len(on_disk.history) < 30
    assert [r["loss"] for r in store.history(bad.id)] == [r["loss"] for r in on_disk.history]

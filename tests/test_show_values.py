"""What `localsweep show` prints of a run's values, in real processes: parameter values
whole when piped and told apart on a terminal; the best run's summary led by the metric,
with wandb.Table and wandb.watch objects by name only; the missing-metric warning naming
the keys the code logged, not the insides of its histograms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

import localsweep

pytestmark = pytest.mark.slow

MODELS = ["distilbert-base-uncased-finetuned-sst-2", "distilbert-base-uncased-finetuned-mnli"]


def show(sweep_id: str, columns: int | None) -> subprocess.CompletedProcess[str]:
    """`localsweep show` piped; ``columns``: with ``COLUMNS`` set, as a terminal's width."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    shown = subprocess.run(
        [sys.executable, "-m", "localsweep", "show", sweep_id, "--db", "s.db"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    return shown


def long_values_sweep() -> str:
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {
            "model": {"values": MODELS},
            "optimizer": {"value": {"name": "sgd", "lr": 0.001}},
        },
    }
    return localsweep.run(config, lambda c: len(c["model"]), db="s.db", quiet=True).id


def model_cells(stdout: str) -> list[str]:
    return [row.split("│")[4].strip() for row in stdout.splitlines() if "│ finished" in row]


def test_piped_show_prints_long_parameter_values_whole() -> None:
    out = show(long_values_sweep(), columns=None).stdout
    assert sorted(model_cells(out)) == sorted(MODELS), out


def test_on_a_terminal_cut_values_stay_apart() -> None:
    out = show(long_values_sweep(), columns=200).stdout
    cells = model_cells(out)
    assert len(cells) == 2 and cells[0] != cells[1], out


def train_with_media() -> None:
    """A wandb training function as wandb's docs write one: define_metric, a table and
    histograms (as wandb.watch logs them), the metrics last."""
    import numpy as np
    import wandb

    with wandb.init() as run:
        run.define_metric("val_acc", summary="max")
        run.define_metric("val_loss", summary="min")
        grads = np.linspace(-1.0, 1.0, 50)
        for epoch in range(2):
            layers = {
                f"{kind}/layer{i}.{p}": wandb.Histogram(grads * (i + 1))
                for kind in ("gradients", "parameters")
                for i in range(3)
                for p in ("weight", "bias")
            }
            run.log(layers, commit=False)
            run.log({"epoch": epoch, "val_acc": 0.5 + epoch / 10, "val_loss": 1.0 - epoch / 10})
        run.log({"preds": wandb.Table(columns=["y", "p"], data=[[1, 1], [0, 1]])})


def media_sweep(metric: str) -> tuple[str, Any]:
    config = {
        "method": "grid",
        "metric": {"name": metric, "goal": "maximize"},
        "parameters": {"x": {"value": 1}},
    }
    sweep = localsweep.run(config, train_with_media, db="s.db", quiet=True)
    return sweep.id, sweep


def test_the_best_runs_summary_leads_with_the_metric_and_names_media_only() -> None:
    sweep_id, _ = media_sweep("val_acc")
    out = show(sweep_id, columns=None).stdout
    [line] = [line for line in out.splitlines() if line.startswith("summary: ")]
    assert line.startswith("summary: val_acc.max=0.6, "), line
    assert "val_loss.min=0.9" in line and "epoch=1" in line
    # The table and the histograms by name, none of their insides.
    assert "media and histograms: " in line and "gradients/layer0.bias" in line
    assert "preds" in line
    for inside in ("bins", "_type", "artifact_path", "sha256"):
        assert inside not in line, line
    if len(line) > 500:
        assert re.search(r", … \(\d+ more\)$", line), line


def test_the_missing_metric_warning_names_what_the_code_logged() -> None:
    sweep_id, _ = media_sweep("val_accuracy")
    warning = " ".join(show(sweep_id, columns=None).stderr.split())
    keys = warning.split("logged keys: ", 1)[1].split(". Did you mean", 1)[0]
    # The metrics first, then the objects by name; never an object's insides.
    assert keys.startswith("epoch, val_acc, val_loss, gradients/layer0.bias"), keys
    assert "._type" not in keys and ".bins" not in keys and ".values" not in keys
    assert keys.endswith("more)") and "...." not in warning
    assert "Did you mean 'val_acc'?" in warning


def test_a_long_summary_is_cut_between_two_items_with_an_ellipsis() -> None:
    from localsweep._show_cli import SUMMARY_CHARS, summary_line

    summary = {f"layer{i}/loss": i / 7 for i in range(100)}
    summary["note"] = "x" * 300
    summary["acc"] = {"max": 0.5}
    line = summary_line(summary, "acc")
    assert line.startswith("acc.max=0.5, layer0/loss=0, layer1/loss=0.142857, ")
    assert re.search(r", layer\d+/loss=[\d.]+, … \(\d+ more\)$", line), line
    assert len(line) <= SUMMARY_CHARS + len(", … (100 more)")


LOGGED = {1: "0.5", 2: True, 3: [1, 2]}


def log_no_number() -> None:
    import wandb

    with wandb.init() as run:
        run.log({"loss": LOGGED[run.config["x"]]})


def test_a_metric_logged_as_no_number_is_said_for_what_it_was() -> None:
    """Text, a bool, a list as the metric: no result, and ``show`` says why in the cell and
    in the warning (which blamed NaN: "did the training diverge?"); a parameter named as the
    metric is headed ``config.loss``, not a second ``loss``."""
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        # A constant is no column: two values make "loss" a column.
        "parameters": {"x": {"values": [1, 2, 3]}, "loss": {"values": [7, 8]}},
    }
    sweep = localsweep.run(config, log_no_number, db="s.db", quiet=True, count=3)
    shown = show(sweep.id, columns=200)
    head = next(line for line in shown.stdout.splitlines() if "┃ run" in line)
    columns = [c.strip() for c in head.split("┃")[1:-1]]
    assert columns == ["run", "state", "loss", "config.loss", "x"]
    cells = {
        row.split("│")[5].strip(): row.split("│")[3].strip()
        for row in shown.stdout.splitlines()
        if "│ finished" in row
    }
    assert cells == {"1": "(text)", "2": "(a bool)", "3": "(a list)"}
    assert "was logged as text, not a number" in shown.stderr
    assert "diverge" not in shown.stderr


def test_piped_show_prints_decimal_parameter_values_whole() -> None:
    """cli.md: piped, parameter values are printed whole; a decimal was rounded to 6
    significant digits (0.802299 for 0.80229938714), so a script reading them got
    another value than the run's."""
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"lr": {"values": [0.80229938714, 1.25e-07]}},
    }
    sweep = localsweep.run(config, lambda c: c["lr"], db="s.db", quiet=True)
    out = show(sweep.id, columns=None).stdout
    cells = {row.split("│")[4].strip() for row in out.splitlines() if "│ finished" in row}
    assert cells == {"0.80229938714", "1.25e-07"}
    on_terminal = show(sweep.id, columns=200).stdout
    assert "0.8023" in on_terminal and "0.80229938714" not in on_terminal

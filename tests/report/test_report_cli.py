"""``localsweep report`` and ``localsweep export`` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

import localsweep
from localsweep.report._cli import export_command, report_command

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss"},
    "parameters": {"x": {"values": [1, 2, 3]}, "tag": {"values": ["a", "b"]}},
}


@pytest.fixture
def swept(tmp_path: Path) -> tuple[Path, localsweep.Sweep]:
    db = tmp_path / "s.db"
    return db, localsweep.run(CONFIG, lambda c: (c["x"] - 2) ** 2, count=6, db=db)


def test_report_writes_the_file_and_says_where(
    swept: tuple[Path, localsweep.Sweep], tmp_path: Path
) -> None:
    db, sweep = swept
    out = tmp_path / "r.html"
    result = CliRunner().invoke(report_command, [sweep.id, "-o", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert out.exists() and sweep.id in out.read_text(encoding="utf-8")
    assert str(out) in result.stderr


def test_an_unknown_sweep_is_a_message_not_a_traceback(
    swept: tuple[Path, localsweep.Sweep], tmp_path: Path
) -> None:
    db, _sweep = swept
    result = CliRunner().invoke(report_command, ["ls-nope", "--db", str(db)])
    assert result.exit_code == 2  # bad input, as docs/cli.md promises
    assert "Error:" in result.stderr and "ls-nope" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_missing_plotly_is_a_message_naming_the_package(
    swept: tuple[Path, localsweep.Sweep], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, "plotly", None)
    db, sweep = swept
    out = tmp_path / "r.html"
    result = CliRunner().invoke(report_command, [sweep.id, "-o", str(out), "--db", str(db)])
    assert result.exit_code == 1
    assert "pip install plotly" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_export_csv_goes_to_stdout(swept: tuple[Path, localsweep.Sweep]) -> None:
    db, sweep = swept
    result = CliRunner().invoke(export_command, [sweep.id, "--format", "csv", "--db", str(db)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == [r.id for r in sweep.runs]
    assert "Exported 6 runs" in result.stderr


def test_export_json_to_a_file(swept: tuple[Path, localsweep.Sweep], tmp_path: Path) -> None:
    db, sweep = swept
    out = tmp_path / "runs.json"
    args = [sweep.id, "--format", "json", "-o", str(out), "--db", str(db)]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 0, result.output
    assert [r["x"] for r in json.loads(out.read_text())] == [r.config["x"] for r in sweep.runs]


@pytest.mark.parametrize(
    ("name", "fmt"), [("runs.json", "json"), ("runs.csv", "csv"), ("runs.txt", "csv")]
)
def test_export_without_format_writes_what_the_files_name_says(
    swept: tuple[Path, localsweep.Sweep], tmp_path: Path, name: str, fmt: str
) -> None:
    db, sweep = swept
    out = tmp_path / name
    result = CliRunner().invoke(export_command, [sweep.id, "-o", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert [r["id"] for r in json.loads(out.read_text())] == [r.id for r in sweep.runs]
    else:
        assert [r["id"] for r in csv.DictReader(out.open())] == [r.id for r in sweep.runs]
    assert f"as {fmt} to" in result.stderr


def test_export_optuna_to_a_storage_url(
    swept: tuple[Path, localsweep.Sweep], tmp_path: Path
) -> None:
    db, sweep = swept
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = [sweep.id, "--format", "optuna", "--to", url, "--db", str(db)]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 0, result.output
    assert f"optuna-dashboard {url}" in result.stderr
    study = optuna.load_study(study_name=sweep.id, storage=url)
    assert sorted(t.value for t in study.trials) == sorted(r.metric for r in sweep.runs)


def test_export_optuna_counts_the_prior_runs_it_writes(
    swept: tuple[Path, localsweep.Sweep], tmp_path: Path
) -> None:
    db, sweep = swept
    new = tmp_path / "new.db"
    warm = localsweep.run(
        sweep.config, lambda c: 1.0, count=1, db=new, prior_runs=f"{db}#{sweep.id}", quiet=True
    )
    url = f"sqlite:///{tmp_path / 'warm.db'}"
    args = [warm.id, "--format", "optuna", "--to", url, "--db", str(new)]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 0, result.output
    n, total = len(warm.prior_runs), len(warm.prior_runs) + len(warm.runs)
    assert n > 0
    assert f"Exported {total} runs (with {n} prior runs) of {warm.id}" in result.stderr
    assert len(optuna.load_study(study_name=warm.id, storage=url).trials) == total


def test_export_refuses_an_option_of_the_other_format(
    swept: tuple[Path, localsweep.Sweep],
) -> None:
    db, sweep = swept
    args = [sweep.id, "--format", "csv", "--to", "sqlite://", "--db", str(db)]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 2
    assert "--to is for --format optuna" in result.stderr


def test_export_into_a_pipe_whose_reader_left_ends_quietly(
    swept: tuple[Path, localsweep.Sweep],
) -> None:
    # `localsweep export ID | head -1`: head leaves once it has its line; that is no error.
    import os
    import subprocess

    db, sweep = swept
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first row is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "localsweep.cli", "export", sweep.id, "--db", str(db)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Error" not in done.stderr and "Traceback" not in done.stderr, done.stderr

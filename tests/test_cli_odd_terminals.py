"""What the read commands print where the output is not a wide UTF-8 terminal, in real
processes: a stdout that cannot encode the sweep's names and values
(``PYTHONIOENCODING=ascii``, a latin-1 locale) still gets readable output and exit 0,
through ``localsweep`` and ``python -m localsweep.cli`` alike; ``show`` on a narrow
terminal never cuts a number (it leaves parameter columns out, saying which); ``ls``
labels its times as UTC."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli, cli_at

pytestmark = pytest.mark.slow

UNI = {
    "name": "expé ✓",
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.3]}, "opt": {"values": ["adamé", "sgd✓"]}},
}

ASCII = {"PYTHONIOENCODING": "ascii"}

#: How the commands are started: the ``localsweep`` command's module and the CLI module.
ENTRIES = ["localsweep", "localsweep.cli"]


def uni_sweep() -> str:
    return localsweep.run(UNI, lambda c: c["lr"] * 2, db="u.db", quiet=True).id


def entry(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """``python -m MODULE ARGS``, its output piped, as bytes (what the stream wrote)."""
    full = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LOCALSWEEP_DB")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, env=full, timeout=300
    )


@pytest.mark.parametrize("module", ENTRIES)
def test_show_on_an_ascii_stdout_escapes_the_names_it_cannot_encode(module: str) -> None:
    sweep_id = uni_sweep()
    shown = entry(module, "show", sweep_id, "--db", "u.db", env=ASCII)
    out = shown.stdout.decode("ascii")  # ASCII through and through
    assert shown.returncode == 0, shown.stderr.decode()
    assert b"Traceback" not in shown.stderr, shown.stderr.decode()
    assert "'exp\\xe9 \\u2713'" in out, out
    rows = [line for line in out.splitlines() if "| finished" in line]
    assert sorted(row.split("|")[5].strip() for row in rows) == sorted(
        ["adam\\xe9", "adam\\xe9", "sgd\\u2713", "sgd\\u2713"]
    ), out
    # Escaped before the table is laid out: its borders stay in line.
    table = out.split("Best run")[0].splitlines()
    assert len({len(line) for line in table if line.startswith(("|", "+"))}) == 1, out


@pytest.mark.parametrize("module", ENTRIES)
def test_ls_on_an_ascii_stdout_escapes_the_name(module: str) -> None:
    uni_sweep()
    listed = entry(module, "ls", "--db", "u.db", env=ASCII)
    assert listed.returncode == 0, listed.stderr.decode()
    assert "exp\\xe9 \\u2713" in listed.stdout.decode("ascii")


def test_show_on_a_latin1_stdout_writes_what_latin1_has() -> None:
    sweep_id = uni_sweep()
    shown = entry(
        "localsweep", "show", sweep_id, "--db", "u.db", env={"PYTHONIOENCODING": "latin-1"}
    )
    assert shown.returncode == 0, shown.stderr.decode()
    assert "'expé \\u2713'" in shown.stdout.decode("latin-1")


@pytest.mark.parametrize("module", ENTRIES)
def test_export_to_an_ascii_stdout_writes_the_data_in_utf8_as_to_a_file(module: str) -> None:
    sweep_id = uni_sweep()
    exported = entry(module, "export", sweep_id, "--db", "u.db", env=ASCII)
    assert exported.returncode == 0, exported.stderr.decode()
    assert entry(module, "export", sweep_id, "--db", "u.db", "-o", "runs.csv", env=ASCII)
    assert exported.stdout == Path("runs.csv").read_bytes()
    assert "adamé" in exported.stdout.decode("utf-8")


def test_run_on_an_ascii_stdout_ends_with_its_table_and_exit_0(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text(
        "import wandb\n"
        "def train():\n"
        "    with wandb.init() as run:\n"
        "        wandb.log({'val_loss': run.config.lr})\n"
    )
    (tmp_path / "uni.yaml").write_text(
        "name: expé\nmethod: grid\nmetric: {name: val_loss}\n"
        "parameters:\n  lr: {values: [0.1]}\n  opt: {values: [sgd✓]}\n"
    )
    env = {
        **ASCII,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    ran = entry("localsweep.cli", "run", "uni.yaml", "-f", "t:train", "--db", "r.db", env=env)
    assert ran.returncode == 0, ran.stderr.decode()
    assert "sgd\\u2713" in ran.stdout.decode("ascii")


# ---------------------------------------------------------------------------- narrow show

WIDE = {
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {
        "learning_rate": {"values": [9.016061234e-05, 0.000234251234]},
        "weight_decay": {"value": 0.0856114},
        "dropout": {"values": [0.0454469]},
        "batch_size": {"values": [16, 64]},
        "warmup_steps": {"values": [500]},
        "optimizer": {"values": ["adamw"]},
        "scheduler": {"values": ["linear"]},
        "hidden_size": {"values": [128]},
    },
}


def wide_sweep() -> localsweep.Sweep:
    def score(c: dict[str, float]) -> float:
        return c["learning_rate"] * 507.2 + c["batch_size"] / 1000 + 0.0000302

    return localsweep.run(WIDE, score, db="w.db", quiet=True)


def table_rows(out: str) -> list[list[str]]:
    """The runs table's rows' cells (the first table), and the parameter importance's."""
    runs, importance = out.split("Best run")[0], out.split("parameter importance")[1]
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in (*runs.splitlines(), *importance.splitlines())
        if line.startswith("│")
    ]


@pytest.mark.parametrize("columns", [80, 40, 30])
def test_show_on_a_narrow_terminal_never_cuts_a_number(columns: int) -> None:
    sweep = wide_sweep()
    shown = cli("show", sweep.id, "--db", "w.db", columns=columns)
    assert shown.returncode == 0, shown.stderr
    rows = table_rows(shown.stdout)
    runs, importance = rows[: len(sweep.runs)], rows[len(sweep.runs) :]
    # One line per run (a folded cell would add lines with an empty run column), each
    # metric whole; every number of the parameter importance whole.
    assert sorted(row[0] for row in runs) == sorted(r.id for r in sweep.runs), shown.stdout
    assert sorted(row[2] for row in runs) == sorted(f"{r.metric:.6g}" for r in sweep.runs)
    assert sorted(row[0] for row in importance) == ["batch_size", "learning_rate"]
    for row in rows:
        for cell in row[1:]:
            assert cell and "…" not in cell, shown.stdout
            assert re.fullmatch(r"[-+\w.]+", cell), shown.stdout
    header = next(line for line in shown.stdout.splitlines() if line.startswith("┃"))
    left = [p for p in sorted(WIDE["parameters"]) if p != "weight_decay" and p not in header]
    assert left, shown.stdout
    note = " ".join(shown.stdout.split())
    assert f"parameter columns left out to fit {columns} columns: {', '.join(left)}" in note
    assert f"localsweep export {sweep.id}" in note


def test_show_on_a_wide_terminal_shows_every_parameter_without_a_note() -> None:
    sweep = wide_sweep()
    shown = cli("show", sweep.id, "--db", "w.db", columns=200)
    assert "left out" not in shown.stdout
    header = next(line for line in shown.stdout.splitlines() if line.startswith("┃"))
    assert all(p in header for p in WIDE["parameters"] if p != "weight_decay"), shown.stdout


def test_ls_says_its_times_are_utc() -> None:
    sweep = uni_sweep()
    listed = cli("ls", "--db", "u.db", env={"TZ": "Pacific/Kiritimati"})
    created = localsweep.Api("u.db").sweep(sweep).created_at
    assert re.search(re.escape(created.strftime("%Y-%m-%d %H:%M")) + r"\s+UTC", listed.stdout), (
        listed.stdout
    )


@pytest.mark.parametrize("columns", [80, 50, 40])
def test_ls_on_a_narrow_terminal_keeps_ids_states_and_best_values_whole(columns: int) -> None:
    # The best value folded over lines read as another (loss=0 over .4), and at 40
    # columns every column but id and state had no width left, without a word.
    sweep = localsweep.run(
        {**UNI, "name": "a sweep", "metric": {"name": "val_loss_of_the_model"}},
        lambda c: {"val_loss_of_the_model": c["lr"] + 0.0123456},
        db="n.db",
        quiet=True,
    )
    listed = cli("ls", "--db", "n.db", columns=columns)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if sweep.id in line]
    assert "finished (exhausted)" in row, listed.stdout
    assert "val_loss_of_the_model=0.112346" in row, listed.stdout
    note = " ".join(listed.stdout.split())
    assert f"left out to fit {columns} columns" in note, listed.stdout
    assert "COLUMNS=" in note


@pytest.mark.parametrize(
    "stream_env", [{}, {"PYTHONIOENCODING": "latin-1"}], ids=["utf8", "latin1"]
)
def test_a_file_name_that_is_not_utf8_is_shown_by_its_bytes(
    tmp_path: Path, stream_env: dict[str, str]
) -> None:
    # A byte of a name that is not UTF-8 reaches Python as a lone surrogate: messages
    # showed it as `\udcff`, which names no byte of the file a user must find.
    folder = os.fsdecode(bytes(tmp_path) + b"/b\xffd")
    result = cli_at(tmp_path, "ls", "--db", folder + "/s.db", env=stream_env)
    assert result.returncode != 0
    assert "/b\\xffd/s.db" in result.stderr
    assert "udcff" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_suggested_command_names_a_path_that_is_not_utf8_as_bash_reads_it(
    tmp_path: Path,
) -> None:
    # `Run sweep agent with: ... --db '/x/b\udcffd/s.db'` could not be pasted: no shell
    # reads Python's surrogate (or its escape) as the byte of the file's name.
    (tmp_path / "s.yaml").write_text(
        "method: random\nparameters:\n  x: {min: 0.0, max: 1.0}\n", encoding="utf-8"
    )
    folder = bytes(tmp_path) + b"/b\xffd"
    db = os.fsdecode(folder + b"/s.db")
    made = cli_at(tmp_path, "sweep", "s.yaml", "--db", db)
    assert made.returncode == 0, made.stderr
    (line,) = [x for x in made.stderr.splitlines() if x.startswith("Run sweep agent with:")]
    word = line.split("--db ", 1)[1].split()[0]
    said = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True)
    assert said.stdout == folder + b"/s.db"

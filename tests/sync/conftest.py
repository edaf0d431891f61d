"""Fixtures for ``localsweep sync``: finished local sweeps made by real wandb offline, and a
W&B stand-in server on 127.0.0.1 (no real W&B server can run here; see
``tests/helpers/wandb_standin.py``).

The sweeps are made once per session in child processes (one in-process sweep, one
program-mode sweep); each test works on its own copy, so it may damage or move folders.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_helpers import CHILD_TIMEOUT, ROWS, Site, StandinServer

MAKE_SWEEPS = """
    import glob
    import os
    import subprocess
    import sys

    import wandb

    import localsweep

    ROWS = {rows}


    def train():
        with wandb.init() as run:
            for i in range(ROWS):
                run.log({{"loss": float(run.config["x"]) / (i + 1), "i": i}})
            notes = os.path.join(run.dir, "notes.txt")
            with open(notes, "w") as f:
                f.write(f"x={{run.config['x']}}")
            run.save(notes, base_path=run.dir, policy="end")


    inproc = localsweep.run("inproc.yaml", train, count=3)
    prog = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "sweep", "prog.yaml"],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    subprocess.run([sys.executable, "-m", "localsweep.cli", "agent", prog], check=True)

    # A sweep with prior runs: a training run by hand (no sweep id in its run file), a
    # run of the in-process sweep (its run file records that sweep), a runs table row.
    with wandb.init(project="proj", config={{"x": 2}}) as hand:
        for i in range(ROWS):
            hand.log({{"loss": 2.0 / (i + 1), "i": i}})
    [hand_dir] = glob.glob(f"wandb/offline-run-*-{{hand.id}}")
    [inproc_dir] = glob.glob(f"wandb/offline-run-*-{{inproc.runs[0].id}}")
    with open("runs.csv", "w") as f:
        f.write("id,x,loss\\ntbl1,4,0.3\\n")
    withprior = localsweep.sweep("withprior.yaml", prior_runs=[hand_dir, inproc_dir, "runs.csv"])
    localsweep.agent(withprior, train)
    print(inproc.id)
    print(prog)
    print(withprior)
    print(hand.id, inproc.runs[0].id)
"""

PROGRAM = """
    import wandb

    run = wandb.init()
    for i in range({rows}):
        run.log({{"loss": run.config["x"] * 10.0 / (i + 1)}})
    run.finish()
"""


@pytest.fixture(scope="session")
def finished_sweeps(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, str, str, str, tuple[str, ...]]:
    """A folder holding three finished local sweeps (made once): returns (folder,
    in-process sweep id, program-mode sweep id, id of the sweep with prior runs, W&B ids
    of its two prior runs with run folders)."""
    root = tmp_path_factory.mktemp("sweeps")
    (root / "inproc.yaml").write_text(
        "method: grid\nproject: proj\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {values: [1, 2, 3]}\nlocalsweep: {seed: 1}\n"
    )
    (root / "train_prog.py").write_text(textwrap.dedent(PROGRAM.format(rows=ROWS)))
    (root / "prog.yaml").write_text(
        f"program: {root / 'train_prog.py'}\nmethod: grid\nproject: proj\n"
        "metric: {name: loss, goal: minimize}\nparameters:\n  x: {values: [4, 5]}\n"
    )
    (root / "withprior.yaml").write_text(
        "method: grid\nproject: proj\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {values: [1, 2, 3, 4, 5]}\n"
    )
    (root / "make.py").write_text(textwrap.dedent(MAKE_SWEEPS.format(rows=ROWS)))
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DIR": str(root),
        "LOCALSWEEP_DB": str(root / "localsweep.db"),
    }
    env.pop("WANDB_SERVICE", None)
    proc = subprocess.run(
        [sys.executable, "make.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    inproc, prog, withprior, priors = proc.stdout.strip().splitlines()[-4:]
    return root, inproc, prog, withprior, tuple(priors.split())


@pytest.fixture
def site(
    finished_sweeps: tuple[Path, str, str, str, tuple[str, ...]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Site:
    """This test's own copy of the finished sweeps, as the working directory and
    ``WANDB_DIR``; the database's run folders point into the copy."""
    source, sweep_id, program_sweep_id, prior_sweep_id, prior_ids = finished_sweeps
    root = tmp_path / "site"
    shutil.copytree(source, root)
    with sqlite3.connect(root / "localsweep.db") as conn:
        conn.execute("UPDATE runs SET dir = replace(dir, ?, ?)", (str(source), str(root)))
        run_ids = tuple(
            r[0]
            for r in conn.execute(
                "SELECT id FROM runs WHERE sweep_id = ? ORDER BY number", (sweep_id,)
            )
        )
    monkeypatch.chdir(root)
    monkeypatch.setenv("WANDB_DIR", str(root))
    monkeypatch.setenv("LOCALSWEEP_DB", str(root / "localsweep.db"))
    return Site(root, sweep_id, run_ids, program_sweep_id, prior_sweep_id, prior_ids)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinServer]:
    """The stand-in W&B server, with the client pointed at it: ``WANDB_BASE_URL``, a dummy
    40-character ``WANDB_API_KEY`` and a throwaway ``HOME`` (no netrc, no settings)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("WANDB_ENTITY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    with StandinServer() as s:
        monkeypatch.setenv("WANDB_BASE_URL", s.url)
        yield s

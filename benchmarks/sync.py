"""``localsweep sync`` beside plain ``wandb sync`` of the same run folders, against the
W&B stand-in server of the tests (``tests/helpers/wandb_standin.py``; no real W&B server
can run here).

A grid sweep of RUNS runs, each logging ROWS rows through real wandb offline, is made
once. Then, in the same process and run:

1. plain ``wandb sync -n PARALLEL`` of copies of the run folders (the stand-in accepts
   their local sweep id, so it uploads everything: the upload work alone);
2. ``localsweep.sync`` of the same sweep (sweep creation, checks, staging copies,
   rewriting and checking every run file, the same ``wandb sync -n PARALLEL``, finishing
   the sweep);

and prints both wall times and their ratio (the issue's goal: at most 1.10x). Then the
rewrite rate: rewriting and checking every run file, beside a plain file copy of the
same files, in MB/s.

    python benchmarks/sync.py              # 40 runs x 1,000 rows (2 shared cores)
    python benchmarks/sync.py 200 1000     # the issue's size
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

from wandb_standin import ServerSweep, StandinServer  # noqa: E402

PARALLEL = 5


def make_sweep(workdir: Path, runs: int, rows: int) -> str:
    """A finished grid sweep of ``runs`` runs logging ``rows`` rows each, in ``workdir``."""
    import wandb

    import localsweep

    def train() -> None:
        with wandb.init() as run:
            x = float(run.config["x"])
            for i in range(rows):
                run.log({"loss": x / (i + 1), "acc": 1 - 1 / (i + 2), "epoch": i})

    config = {
        "method": "grid",
        "project": "bench",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": list(range(1, runs + 1))}},
    }
    sweep = localsweep.run(config, train, count=runs, db=workdir / "localsweep.db")
    wandb.teardown()
    return sweep.id


def run_files(workdir: Path) -> list[Path]:
    return sorted((workdir / "wandb").glob("offline-run-*/run-*.wandb"))


def time_plain_wandb_sync(workdir: Path, sweep_id: str, scratch: Path) -> float:
    from localsweep.wandb_bridge._server import run_wandb_sync

    copies = scratch / "plain"
    shutil.copytree(workdir / "wandb", copies, ignore=shutil.ignore_patterns("sweep-*"))
    files = sorted(copies.glob("offline-run-*/run-*.wandb"))
    with StandinServer() as server:
        # The server knows the local sweep id here, so plain wandb sync uploads every run.
        server.sweeps[sweep_id] = ServerSweep("s", sweep_id, "team", "bench", "")
        os.environ["WANDB_BASE_URL"] = server.url
        started = time.perf_counter()
        result = run_wandb_sync(
            files, entity="team", project="bench", parallel=PARALLEL, workdir=scratch
        )
        elapsed = time.perf_counter() - started
        assert len(result.synced) == len(files), result.output[-2000:]
        assert len(server.uploaded_runs()) == len(files)
    return elapsed


def time_localsweep_sync(workdir: Path, sweep_id: str, scratch: Path) -> float:
    import localsweep

    with StandinServer() as server:
        os.environ["WANDB_BASE_URL"] = server.url
        started = time.perf_counter()

        def progress(text: str) -> None:
            print(f"    {time.perf_counter() - started:6.1f} s  {text}")

        report = localsweep.sync(
            sweep_id,
            entity="team",
            db=workdir / "localsweep.db",
            wandb_dirs=[workdir],
            parallel=PARALLEL,
            staging_dir=scratch / "staging",
            progress=progress,
        )
        elapsed = time.perf_counter() - started
        assert report.ok, report.runs
        assert len(server.uploaded_runs()) == len(report.runs)
    return elapsed


def rewrite_rate(workdir: Path, scratch: Path) -> tuple[float, float, float]:
    """(MB, rewrite-and-check MB/s, plain copy MB/s) over every run file."""
    from localsweep.wandb_bridge._writer import rewrite_run_file

    files = run_files(workdir)
    size = sum(f.stat().st_size for f in files) / 1e6
    out = scratch / "rates"
    out.mkdir()
    started = time.perf_counter()
    for index, source in enumerate(files):
        shutil.copyfile(source, out / f"copy-{index}.wandb")
    copy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for index, source in enumerate(files):
        dest = out / f"rewritten-{index}.wandb"
        rewrite_run_file(source, dest, sweep_id="srv00001", verify=True)
    rewrite_seconds = time.perf_counter() - started
    return size, size / rewrite_seconds, size / copy_seconds


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory(prefix="localsweep-bench-sync-") as tmp:
        workdir, scratch = Path(tmp) / "site", Path(tmp) / "scratch"
        workdir.mkdir()
        scratch.mkdir()
        os.environ.update(
            WANDB_MODE="offline",
            WANDB_SILENT="true",
            WANDB_DISABLE_GIT="true",
            WANDB_DIR=str(workdir),
        )
        os.chdir(workdir)
        started = time.perf_counter()
        sweep_id = make_sweep(workdir, runs, rows)
        print(f"made {runs} runs x {rows} rows in {time.perf_counter() - started:.0f} s")
        # The sync children talk to the stand-in with a dummy key and a throwaway HOME.
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ.update(HOME=str(home), WANDB_API_KEY="k" * 40)
        plain = time_plain_wandb_sync(workdir, sweep_id, scratch)
        ours = time_localsweep_sync(workdir, sweep_id, scratch)
        size, rewrite, copy = rewrite_rate(workdir, scratch)
    print(f"{runs} runs x {rows} rows, wandb sync -n {PARALLEL}, stand-in server on loopback")
    print(f"  plain wandb sync:  {plain:7.1f} s")
    print(f"  localsweep sync:   {ours:7.1f} s   ratio {ours / plain:.2f}x (goal <= 1.10x)")
    print(
        f"  rewrite + check:   {rewrite:7.1f} MB/s   plain file copy {copy:7.1f} MB/s "
        f"({size:.1f} MB of run files)"
    )


if __name__ == "__main__":
    main()

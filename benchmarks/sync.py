"""``localsweep sync`` beside plain ``wandb sync`` of the same run folders, against the
W&B stand-in server of the tests (``tests/helpers/wandb_standin.py``; no real W&B server
can run here).

A grid sweep of RUNS runs, each logging ROWS rows through real wandb offline, is made
once. Then, in the same process and run:

1. plain ``wandb sync -n PARALLEL`` of copies of the run folders (the stand-in accepts
   their local sweep id, so it uploads everything: the upload work alone);
2. ``localsweep.sync`` of the same sweep (login, checks, sweep creation, staging copies,
   patching or rewriting and checking every run file, the same wandb sync code with
   ``-n PARALLEL``, finishing the sweep), with the time of each step;

and prints both wall times and their ratio (the issue's goal: at most 1.10x). Then the
rates over every run file, in MB/s: a plain file copy, the checks' scan, staging's
patch in place, and the record-by-record rewrite (the path for a Run record whose
length cannot be kept), each with its read-back check.

    python benchmarks/sync.py              # 40 runs x 1,000 rows (2 shared cores)
    python benchmarks/sync.py 200 1000     # the issue's size
    python benchmarks/sync.py 200 1000 --site=DIR   # keep the made sweep in DIR, reuse it
    python benchmarks/sync.py 200 1000 --repeat=3   # three pairs, alternating
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

from wandb_standin import ServerSweep, StandinServer  # noqa: E402

PARALLEL = 5
#: Seconds between two measurements.
PAUSE = 3.0


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
    shutil.rmtree(copies, ignore_errors=True)
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


def time_localsweep_sync(
    workdir: Path, sweep_id: str, scratch: Path
) -> tuple[float, dict[str, float]]:
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
    return elapsed, report.timings


def rewrite_rates(workdir: Path, scratch: Path) -> dict[str, float]:
    """MB of run files, and MB/s over them of: a plain file copy; the checks' scan;
    staging's patch in place (write and check); the record-by-record rewrite (write and
    check), the path taken when a Run record's length cannot be kept."""
    from localsweep.wandb_bridge._patch import patch_run_file, scan_run_file
    from localsweep.wandb_bridge._writer import rewrite_run_file

    files = run_files(workdir)
    size = sum(f.stat().st_size for f in files) / 1e6
    out = scratch / "rates"
    out.mkdir()

    def rate(step: Callable[[int, Path], object]) -> float:
        started = time.perf_counter()
        for index, source in enumerate(files):
            step(index, source)
        return size / (time.perf_counter() - started)

    scans = [scan_run_file(f) for f in files]  # warm the page cache
    rates = {"MB": size}
    rates["plain copy"] = rate(lambda i, f: shutil.copyfile(f, out / f"copy-{i}.wandb"))
    rates["scan (checks)"] = rate(lambda i, f: scan_run_file(f))
    rates["patch + check"] = rate(
        lambda i, f: patch_run_file(f, out / f"patched-{i}.wandb", scans[i], sweep_id="srv00001")
    )
    rates["rewrite + check"] = rate(
        lambda i, f: rewrite_run_file(
            f, out / f"rewritten-{i}.wandb", sweep_id="srv00001", verify=True
        )
    )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=40, help="runs in the sweep")
    parser.add_argument("rows", nargs="?", type=int, default=1000, help="rows each run logs")
    parser.add_argument("--site", metavar="DIR", help="keep the made sweep in DIR, reuse it")
    parser.add_argument("--repeat", type=int, default=1, help="pairs, in alternating order")
    options = parser.parse_args()
    runs, rows = options.runs, options.rows
    keep = [options.site] if options.site else []
    repeat = max(1, options.repeat)
    with tempfile.TemporaryDirectory(prefix="localsweep-bench-sync-") as tmp:
        # --site=DIR keeps the made sweep in DIR and reuses it on the next run.
        workdir, scratch = Path(keep[0]) if keep else Path(tmp) / "site", Path(tmp) / "scratch"
        made = (workdir / "sweep-id").exists()
        workdir.mkdir(exist_ok=True)
        scratch.mkdir()
        os.environ.update(
            WANDB_MODE="offline",
            WANDB_SILENT="true",
            WANDB_DISABLE_GIT="true",
            WANDB_DIR=str(workdir),
        )
        os.chdir(workdir)
        if made:
            sweep_id = (workdir / "sweep-id").read_text()
        else:
            started = time.perf_counter()
            sweep_id = make_sweep(workdir, runs, rows)
            print(f"made {runs} runs x {rows} rows in {time.perf_counter() - started:.0f} s")
            (workdir / "sweep-id").write_text(sweep_id)
        # The sync children talk to the stand-in with a dummy key and a throwaway HOME.
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ.update(HOME=str(home), WANDB_API_KEY="k" * 40)
        # Plain and ours alternate (--repeat=N pairs), so that a change of the machine's
        # load during the run weighs on both alike.
        # The order alternates too, with a pause between the two: a wandb child still
        # shutting down must not slow the next measurement.
        pairs = []
        for index in range(repeat):
            if index % 2 == 0:
                plain = time_plain_wandb_sync(workdir, sweep_id, scratch)
                time.sleep(PAUSE)
                ours, timings = time_localsweep_sync(workdir, sweep_id, scratch)
            else:
                ours, timings = time_localsweep_sync(workdir, sweep_id, scratch)
                time.sleep(PAUSE)
                plain = time_plain_wandb_sync(workdir, sweep_id, scratch)
            time.sleep(PAUSE)
            pairs.append((plain, ours, timings))
        rates = rewrite_rates(workdir, scratch)
    print(f"{runs} runs x {rows} rows, wandb sync -n {PARALLEL}, stand-in server on loopback")
    for plain, ours, timings in pairs:
        print(f"  plain wandb sync:  {plain:7.1f} s")
        print(f"  localsweep sync:   {ours:7.1f} s   ratio {ours / plain:.2f}x (goal <= 1.10x)")
        # checks, prepare and login overlap: wandb logs in (in its child) while this
        # process checks the runs and copies them ahead; "login" is what is left to wait for.
        steps = "  ".join(f"{step} {seconds:.2f}" for step, seconds in timings.items())
        print(f"    steps (s): {steps}")
    if len(pairs) > 1:
        total = sum(o for _p, o, _t in pairs) / sum(p for p, _o, _t in pairs)
        print(f"  all {len(pairs)} pairs: ratio of the sums {total:.2f}x")
    print(f"  over {rates.pop('MB'):.1f} MB of run files, MB/s:")
    for name, value in rates.items():
        print(f"    {name:16s} {value:8.1f}")


if __name__ == "__main__":
    main()

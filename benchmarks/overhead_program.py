"""What program mode costs per run, and what parallel workers buy.

1. Per-run cost: the same tiny wandb script (``init``, 10 x ``log``, ``finish``) run N times
   bare (``python script.py`` in a loop, same environment), then N times as a sweep run by
   the program-mode agent, with each child starting its own wandb service (the default) and
   attached to the agent's shared service.
2. Parallelism: the wall time of 20 runs of a script that sleeps one second (and uses
   wandb), with 1 and with 2 workers.

Run: ``python benchmarks/overhead_program.py [--runs 8] [--long-runs 20]``. Everything
happens offline in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUICK = """
import wandb
run = wandb.init()
for i in range(10):
    wandb.log({"loss": 1.0 / (i + 1)})
run.finish()
"""

SLEEPY = """
import time
import wandb
run = wandb.init()
time.sleep(1.0)
wandb.log({"loss": 1.0})
run.finish()
"""


def _bare_once(script: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script)], check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


class _Sweep:
    """A random sweep of ``script`` in its own database."""

    def __init__(self, root: Path, script: Path, *, share: bool):
        from localsweep.agent._workers import runner_factory
        from localsweep.config import parse_config
        from localsweep.store import Store

        self.store = Store(root / f"bench-{time.monotonic_ns()}.db")
        config = parse_config(
            {
                "program": str(script),
                "method": "random",
                "metric": {"name": "loss"},
                "parameters": {"x": {"min": 0.0, "max": 1.0}},
            }
        )
        self.sweep_id = self.store.create_sweep(config).id
        self.factory = runner_factory(self.store, self.sweep_id, share_service=share)

    def one_run(self) -> float:
        """Claim, start, follow and record one run; its wall time."""
        from localsweep.agent import Agent
        from localsweep.agent._workers import WorkerSlot

        start = time.perf_counter()
        Agent(self.store, self.sweep_id, runner=self.factory(WorkerSlot(0)), count=1).run()
        return time.perf_counter() - start

    def workers(self, runs: int, workers: int) -> float:
        """The wall time of ``runs`` runs with ``workers`` workers."""
        from localsweep.agent._workers import run_workers

        start = time.perf_counter()
        run_workers(
            self.store, self.sweep_id, workers=workers, count=runs, make_runner=self.factory
        )
        return time.perf_counter() - start

    def check(self) -> None:
        states = {r.state.value for r in self.store.list_runs(self.sweep_id)}
        assert states == {"finished"}, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs per per-run-cost case")
    parser.add_argument("--long-runs", type=int, default=20, help="one-second runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(
            WANDB_MODE="offline",
            WANDB_SILENT="true",
            WANDB_DISABLE_GIT="true",
            WANDB_DIR=str(root),
        )
        os.environ.pop("WANDB_SERVICE", None)
        os.chdir(root)
        quick = root / "quick.py"
        quick.write_text(QUICK)
        sleepy = root / "sleepy.py"
        sleepy.write_text(SLEEPY)

        _bare_once(quick)  # warm the file cache
        own_sweep = _Sweep(root, quick, share=False)
        shared_sweep = _Sweep(root, quick, share=True)
        # Interleaved, so that a change in the machine's load hits every case alike.
        bare, own, shared = [], [], []
        for _ in range(args.runs):
            bare.append(_bare_once(quick))
            own.append(own_sweep.one_run())
            shared.append(shared_sweep.one_run())
        own_sweep.check()
        shared_sweep.check()
        base = statistics.median(bare)
        print(f"per-run cost, median of {args.runs} (wandb init + 10 logs + finish):")
        print(f"  bare python script.py                {base:6.2f} s")
        for name, times in (("own wandb service", own), ("shared wandb service", shared)):
            median = statistics.median(times)
            print(
                f"  program mode, {name:<22} {median:6.2f} s"
                f"  ({median / base:.2f} x bare, {median - base:+.2f} s)"
            )

        one_sweep = _Sweep(root, sleepy, share=False)
        one = one_sweep.workers(args.long_runs, 1)
        two_sweep = _Sweep(root, sleepy, share=False)
        two = two_sweep.workers(args.long_runs, 2)
        one_sweep.check()
        two_sweep.check()
        print(f"{args.long_runs} one-second runs (wall time):")
        print(f"  1 worker   {one:6.1f} s")
        print(f"  2 workers  {two:6.1f} s  ({one / two:.2f} x faster)")
        print(f"  (load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()

"""A Ctrl-C that lands while a run's rows are being written never hangs the agent.

The recorder waits (at most a couple of seconds) for its write thread. That wait used to be
``concurrent.futures.wait``, which holds the write's lock while it sets up and tears down:
a ``KeyboardInterrupt`` raised in there left the lock held, the write thread could never
finish, and the agent hung for good on its way out (CI caught `localsweep run`, Ctrl-C,
not ending in 240 s). Here the interrupt is made to land in exactly that place, in a
process of its own, with the real recorder and a real SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import os, random, signal, sys, time
import concurrent.futures._base as base

from localsweep import _interrupt
from localsweep.agent._recorder import RunRecorder
from localsweep.config import parse_config
from localsweep.store import AgentInfo, Store

class SlowStore(Store):
    def append_history(self, *args, **kwargs):
        time.sleep(0.5)  # a database that takes its time
        return super().append_history(*args, **kwargs)

config = parse_config(
    {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 1}}}
)
store = SlowStore(sys.argv[1])
sweep = store.create_sweep(config)
claimed = store.claim_run(
    sweep.id, AgentInfo.current(), lambda runs, n: __import__("localsweep.search", fromlist=["x"])
    .make_search(config).propose(runs, random.Random(n)), nest=config.nest
)
recorder = RunRecorder(store, claimed.run, config)
_interrupt.install()

original_exit = base._AcquireFutures.__exit__
def exit_with_ctrl_c(self, *args):
    base._AcquireFutures.__exit__ = original_exit  # once
    os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, now, with the locks held
    for _ in range(1000):
        pass
    return original_exit(self, *args)
base._AcquireFutures.__exit__ = exit_with_ctrl_c

recorder.on_log({"loss": 1.0}, 0, committed=True)
try:
    recorder.flush()
except KeyboardInterrupt:
    print("interrupted", flush=True)
recorder.drain()  # the agent's way out: waits for the write in flight
print("rows", len(store.history(claimed.run.id)), flush=True)
"""


def test_a_ctrl_c_during_a_row_write_is_raised_and_the_write_still_ends(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        timeout=120,
        # This checkout's localsweep, whatever the installed one is.
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 0, done.stderr
    # The Ctrl-C reached the run's code (the user asked to stop), and the row it was writing
    # was written: nothing lost, nothing hung.
    assert done.stdout.split("\n")[:2] == ["interrupted", "rows 1"], done.stdout + done.stderr

"""An agent process for tests: ``drive_agent.py DB SWEEP_ID WORKERS [COUNT]``.

Runs the sweep's program with ``run_workers`` and prints the merged report as JSON; exits
with 130 on Ctrl-C, as a shell reports it.
"""

import json
import sys

from localsweep.agent._workers import run_workers, runner_factory
from localsweep.store import Store

store = Store(sys.argv[1])
sweep_id = sys.argv[2]
workers = int(sys.argv[3])
count = int(sys.argv[4]) if len(sys.argv) > 4 else None
print("ready", flush=True)
try:
    report = run_workers(
        store,
        sweep_id,
        workers=workers,
        count=count,
        make_runner=runner_factory(store, sweep_id, grace_period=5),
    )
except KeyboardInterrupt:
    sys.exit(130)
print(json.dumps({"runs": report.runs, "stop_reason": report.stop_reason}))

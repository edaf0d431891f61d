"""Drive wandb's own bayes search (PyPI ``sweeps``) for benchmarks/quality.py.

Run with the engine's interpreter, ``/opt/sweeps-venv/bin/python``: the engine pins
numpy<2 and must not be imported into localsweep's environment. The objective stays in
the calling process; this driver only proposes. One JSON object per line each way:

    -> {"op": "start", "config": {...a wandb sweep config...}, "seed": 3}
    <- {"ok": true}
    -> {"op": "next"}
    <- {"params": {"x": 0.25, ...}}          (flat: the benchmark configs are not nested)
    -> {"op": "tell", "params": {...}, "value": 1.5}
    <- {"ok": true}
    -> {"op": "tell", "params": {...}, "state": "failed"}      (a run that crashed)
    <- {"ok": true}

The engine draws from numpy's and Python's global generators, so ``start`` seeds both.
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

import numpy as np
from sweeps import RunState, SweepRun, next_run


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so that json can write them."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def main() -> None:
    config: dict[str, Any] = {}
    runs: list[SweepRun] = []
    metric = ""
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        op = msg["op"]
        if op == "start":
            config = msg["config"]
            metric = config["metric"]["name"]
            runs = []
            np.random.seed(msg["seed"])
            random.seed(msg["seed"])
            reply: dict[str, Any] = {"ok": True}
        elif op == "next":
            suggestion = next_run(config, runs)
            assert suggestion is not None
            params = {k: _plain(v["value"]) for k, v in suggestion.config.items()}
            reply = {"params": params}
        elif op == "tell":
            value = msg.get("value")
            failed = msg.get("state") == "failed"
            runs.append(
                SweepRun(
                    name=f"r{len(runs)}",
                    state=RunState.failed if failed else RunState.finished,
                    config={k: {"value": v} for k, v in msg["params"].items()},
                    history=[] if failed else [{metric: value}],
                    summary_metrics={} if failed else {metric: value},
                )
            )
            reply = {"ok": True}
        else:
            reply = {"error": f"unknown op {op!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

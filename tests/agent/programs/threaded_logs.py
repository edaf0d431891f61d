"""A training that calls ``wandb.log`` from several threads at once (a main loop beside
monitor threads): importable, as ``isolation="process"`` needs."""

from __future__ import annotations

import threading

import wandb

THREADS = 4
ROWS = 200


def log_from_threads() -> None:
    """The main loop and ``THREADS`` threads each log ``ROWS`` rows, all starting together.

    Every row carries ``loss``, a value no other row has, so the run's summary says which
    row came last; each thread also logs its own key, ``t0`` to ``t3``, and the main loop
    ``epoch``.
    """
    wandb.init()
    start = threading.Barrier(THREADS + 1)

    def monitor(k: int) -> None:
        start.wait()
        for i in range(ROWS):
            wandb.log({f"t{k}": i, "loss": 1000.0 * (k + 1) + i})

    threads = [threading.Thread(target=monitor, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    for epoch in range(ROWS):
        wandb.log({"epoch": epoch, "loss": float(epoch)})
    for thread in threads:
        thread.join()
    wandb.finish()

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


def log_while_finishing() -> None:
    """A monitor thread logs as fast as it can while the main thread finishes the run, as
    a monitor left running at ``wandb.finish()`` does; it stops when ``wandb.log`` refuses
    (after the finish, wandb's ``wandb.log`` is the one that asks for ``wandb.init()``)."""
    wandb.init()
    logging = threading.Event()

    def monitor() -> None:
        i = 0
        while True:
            try:
                wandb.log({"gpu": i, "loss": float(i)})
            except Exception:
                return
            i += 1
            logging.set()

    thread = threading.Thread(target=monitor)
    thread.start()
    logging.wait()
    wandb.log({"loss": -1.0})
    wandb.finish()
    thread.join()


def cancelled_while_a_monitor_logs() -> None:
    """A monitor thread logs every few milliseconds beside a slow main loop; at the main
    loop's third row the sweep is cancelled (the database is ``$THREADED_LOGS_DB``), and
    the main loop logs nothing for 3 s, long enough for the agent to see the cancel (it
    polls every second) on the monitor's rows, then goes on with its epochs. What stops
    the monitor, other than the training's own signal, is written to ``monitor.txt``."""
    import os
    import time

    import localsweep

    run = wandb.init()
    done = threading.Event()

    def monitor() -> None:
        while not done.is_set():
            try:
                wandb.log({"gpu": 0.5})
            except BaseException as exc:  # the run was stopped or finished under it
                with open("monitor.txt", "a") as f:
                    f.write(f"{type(exc).__name__}: {exc}\n")
                return
            time.sleep(0.002)

    thread = threading.Thread(target=monitor)
    thread.start()
    try:
        for epoch in range(100):
            wandb.log({"epoch": epoch, "loss": 100.0 - epoch})
            if epoch == 2:
                localsweep.Api(os.environ["THREADED_LOGS_DB"]).sweep(run.sweep_id).cancel()
                time.sleep(3)
            time.sleep(0.01)
    finally:
        time.sleep(0.1)  # a checkpoint saved, say, before the monitor is stopped
        done.set()
        thread.join()

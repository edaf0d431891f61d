"""`localsweep ui` at 100, 1,000 and 5,000 runs of 100 logged rows each: first paint, update
latency and the server's CPU, beside optuna-dashboard serving the same runs.

- first paint: from asking the browser (headless Chromium) for the sweep page to its
  overview and runs table shown ("paint"), and to every plot on it drawn ("plots", with
  parameter importance following later); for optuna-dashboard, from asking for the
  study's page to its first plot drawn, with the same runs added to an in-memory Optuna
  storage (values, parameters and every intermediate value).
- update: from a new run's rows reaching the store to the open page painting its row (the
  page polls once a second; the newest run is the table's first row), timed in the page's
  own clock; and the bytes of that update beside the whole page's.
- CPU: the server process's CPU seconds over 10 s with no page open (idle), and with the page
  open while 4 agent processes log (busy).

    python benchmarks/ui.py              # 100, 1000, 5000 runs
    python benchmarks/ui.py 100 1000     # other sizes
    python benchmarks/ui.py --keep DIR 5000   # build DIR/ui-5000.db once, reuse it after

The update's bytes are what the server sends the open page for the new run (only what
changed), beside the whole page's.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import localsweep
from localsweep.agent import Agent, RunOutcome, RunRecorder
from localsweep.config import load_config
from localsweep.records import RunState
from localsweep.store import RunRecord, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from chromium import headless_chromium

STEPS = 100
CONFIG: dict[str, Any] = {
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "localsweep": {"seed": 1},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        "optimizer": {"values": ["adam", "sgd", "rmsprop", "adamw"]},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
        "dropout": {"min": 0.0, "max": 0.6},
    },
}

AGENT = """
import math, random, sys, time
from localsweep.agent import Agent, RunOutcome
from localsweep.records import RunState
from localsweep.store import Store

def runner(run, recorder):
    rng = random.Random(run.id)
    for step in range(int(sys.argv[3])):
        recorder.on_log({"val_loss": 1.0 / (1 + step) + rng.random() * 0.01}, step)
        time.sleep(float(sys.argv[4]))
    return RunOutcome(RunState.FINISHED, exit_code=0)

store = Store(sys.argv[1])
Agent(store, sys.argv[2], runner=runner, count=int(sys.argv[5])).run()
"""


def _loss(config: Mapping[str, Any], step: int, rng: random.Random) -> float:
    distance = abs(math.log10(config["lr"]) + 2.5)
    penalty = 0.3 if config["optimizer"] == "sgd" else 0.0
    return (1 + distance + penalty) / (1 + step) + 0.02 * config["layers"] + rng.gauss(0, 0.01)


def _runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
    rng = random.Random(run.id)
    for step in range(STEPS):
        recorder.on_log({"val_loss": _loss(run.config, step, rng)}, step)
    return RunOutcome(RunState.FINISHED, exit_code=0)


def build(runs: int, db: Path) -> str:
    store = Store(db)
    try:
        sweep_id = store.create_sweep(load_config(CONFIG)).id
        Agent(store, sweep_id, runner=_runner, count=runs).run()
    finally:
        store.close()
    return sweep_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _driver(profile: Path) -> Any:
    # get() returns at once: first paint is timed by what the page shows, not its load event.
    return headless_chromium(profile, page_load="none")


def _wait(check: Any, timeout: float = 120.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if check():
                return time.perf_counter() - started
        except Exception:
            pass
        time.sleep(0.02)
    return math.nan


_WATCH_ROWS = """
window.__rowsPainted = {};
new MutationObserver(function () {
  var first = document.querySelector("#runs-table tbody tr");
  var id = first && first.getAttribute("data-run");
  if (id && !(id in window.__rowsPainted)) {
    requestAnimationFrame(function () { window.__rowsPainted[id] = performance.now(); });
  }
}).observe(document.querySelector("#runs-table tbody"), {childList: true});
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ui_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "localsweep.cli", "ui", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.1)
    raise RuntimeError("localsweep ui did not start")


def _plots_drawn(driver: Any) -> bool:
    return bool(
        driver.execute_script(
            "var n = document.querySelectorAll('.plot').length;"
            "return n > 0 && document.querySelectorAll('.js-plotly-plot').length === n;"
        )
    )


def measure_localsweep(db: Path, sweep_id: str, tmp: Path) -> dict[str, float]:
    port = _free_port()
    server = _ui_server(db, port)
    driver = _driver(tmp / "profile-ls")
    url = f"http://127.0.0.1:{port}/sweeps/{sweep_id}"
    try:
        started = time.perf_counter()
        driver.get(url)
        # First paint: the overview and the runs table shown; then every plot drawn.
        _wait(lambda: driver.find_elements("css selector", "#runs-table tbody tr"))
        paint = time.perf_counter() - started
        _wait(lambda: _plots_drawn(driver))
        plots = time.perf_counter() - started
        page_bytes = len(driver.page_source.encode())
        _wait(lambda: driver.execute_script("return document.body.getAttribute('data-polls')"))
        # Update: one more run's rows reach the store; time until its row shows.
        version = driver.execute_script("return window.localsweepPage.version()")
        # The page notes, in its own clock, the frame in which each first row is painted: a
        # WebDriver call waits while the page draws plots (slow in software WebGL), so
        # polling for the row would time the drawing, not the row.
        driver.execute_script(_WATCH_ROWS)
        before = {r.id for r in localsweep.Api(db).sweep(sweep_id).runs}
        store = Store(db)
        Agent(store, sweep_id, runner=_runner, count=1).run()
        committed = time.perf_counter()
        store.close()
        page_now = driver.execute_script("return performance.now()")
        # Back-dated by the call's own wait, so a busy page only lengthens the figure.
        committed_at = page_now / 1000 - (time.perf_counter() - committed)
        (new_id,) = {r.id for r in localsweep.Api(db).sweep(sweep_id).runs} - before
        painted = _wait(
            lambda: driver.execute_script("return window.__rowsPainted[arguments[0]]", new_id)
        )
        update_latency = (
            driver.execute_script("return window.__rowsPainted[arguments[0]]", new_id) / 1000
            - committed_at
            if not math.isnan(painted)
            else math.nan
        )
        from urllib.request import urlopen

        with urlopen(
            f"http://127.0.0.1:{port}/api/sweeps/{sweep_id}/update?since={version}"
        ) as answer:
            update_bytes = len(answer.read())
        # CPU, busy: the page open while 4 agents log.
        agents = [
            subprocess.Popen(
                [sys.executable, "-c", AGENT, str(db), sweep_id, "40", "0.05", "2"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(4)
        ]
        cpu0 = _cpu_seconds(server.pid)
        time.sleep(10)
        busy = _cpu_seconds(server.pid) - cpu0
        for agent in agents:
            agent.wait(timeout=300)
    finally:
        driver.quit()
    try:
        time.sleep(2)  # the closed page's last request ends
        cpu0 = _cpu_seconds(server.pid)
        time.sleep(10)
        idle = _cpu_seconds(server.pid) - cpu0
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "paint": paint,
        "plots": plots,
        "update": update_latency,
        "idle": idle,
        "busy": busy,
        "page_mb": page_bytes / 1e6,
        "update_kb": update_bytes / 1e3,
    }


def measure_optuna_dashboard(db: Path, sweep_id: str, tmp: Path) -> float:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna_dashboard import run_server

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name=sweep_id)
    distributions = {
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "optimizer": CategoricalDistribution(["adam", "sgd", "rmsprop", "adamw"]),
        "layers": IntDistribution(1, 8),
        "dropout": FloatDistribution(0.0, 0.6),
    }
    store = Store(db)
    histories = store.metric_histories(sweep_id)
    trials = []
    for run in localsweep.Api(db).sweep(sweep_id).runs:
        if run.metric is None:
            continue
        trials.append(
            optuna.trial.create_trial(
                params={k: run.config[k] for k in distributions},
                distributions=distributions,
                value=run.metric,
                intermediate_values=dict(enumerate(histories.get(run.id, []))),
            )
        )
    study.add_trials(trials)
    store.close()
    port = _free_port()
    threading.Thread(
        target=run_server,
        args=(storage,),
        kwargs={"host": "127.0.0.1", "port": port},
        daemon=True,
    ).start()
    _wait(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True)
    driver = _driver(tmp / "profile-od")
    try:
        started = time.perf_counter()
        driver.get(f"http://127.0.0.1:{port}/dashboard/studies/{study._study_id}")
        drawn = _wait(lambda: driver.find_elements("css selector", ".js-plotly-plot"))
        return time.perf_counter() - started if not math.isnan(drawn) else math.nan
    finally:
        driver.quit()


def main(sizes: list[int], keep: Path | None = None) -> None:
    print(
        f"{'runs':>6} {'build (s)':>9} {'paint (s)':>9} {'plots (s)':>9} {'dashboard (s)':>13} "
        f"{'ratio':>6} {'update (s)':>10} {'update (kB)':>11} {'page (MB)':>9} "
        f"{'idle CPU (s/10s)':>16} {'busy CPU (s/10s)':>16}"
    )
    for runs in sizes:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            db = tmp / "ui.db"
            started = time.perf_counter()
            if keep is not None:
                kept = keep / f"ui-{runs}.db"
                if not kept.exists():
                    build(runs, kept)
                shutil.copyfile(kept, db)  # the run adds runs: keep the built one as it is
            else:
                build(runs, db)
            built = time.perf_counter() - started
            (sweep_id,) = [s.id for s in localsweep.Api(db).sweeps()]
            ours = measure_localsweep(db, sweep_id, tmp)
            theirs = measure_optuna_dashboard(db, sweep_id, tmp)
            print(
                f"{runs:>6} {built:>9.1f} {ours['paint']:>9.2f} {ours['plots']:>9.2f} "
                f"{theirs:>13.2f} {ours['paint'] / theirs:>6.2f} {ours['update']:>10.2f} "
                f"{ours['update_kb']:>11.1f} {ours['page_mb']:>9.2f} "
                f"{ours['idle']:>16.2f} {ours['busy']:>16.2f}",
                flush=True,
            )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 5000])
    parser.add_argument("--keep", type=Path, help="build each database here once and reuse it")
    args = parser.parse_args()
    main(args.sizes, args.keep)

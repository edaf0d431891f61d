"""The screenshots in docs/ui.md, made here: the live sweep page and a run page of a sweep
with a run still logging, rendered in headless Chromium and checked (every plot drawn, no
JavaScript error, a picture that is not blank). ``LOCALSWEEP_WRITE_SCREENSHOTS=1`` writes
them into docs/images/; otherwise they go to the test's artifacts, so a test run never
changes the tree."""

from __future__ import annotations

import math
import os
import random
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import wait_for

import localsweep
from localsweep.agent import Agent, RunOutcome, RunRecorder, RunStopped
from localsweep.config import load_config
from localsweep.records import RunState
from localsweep.store import RunRecord, Store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

CONFIG: dict[str, Any] = {
    "name": "resnet-lr-search",
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
    "localsweep": {"seed": 7},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        "optimizer": {"values": ["adam", "sgd", "adamw"]},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
        "dropout": {"min": 0.0, "max": 0.5},
    },
}
STEPS = 27


def _loss(config: dict[str, Any], step: int, rng: random.Random) -> float:
    distance = abs(math.log10(config["lr"]) + 2.5)
    penalty = 0.25 if config["optimizer"] == "sgd" else 0.0
    return (0.4 + 0.3 * distance + penalty + 0.02 * config["layers"]) * (
        1 + 3 / (1 + step)
    ) + rng.gauss(0, 0.01)


def _runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
    rng = random.Random(run.id)
    try:
        for step in range(STEPS):
            recorder.on_log({"val_loss": _loss(run.config, step, rng), "epoch": step}, step)
    except RunStopped as stop:  # hyperband stopped it
        return RunOutcome(
            RunState.EARLY_TERMINATED, exit_code=stop.exit_code, stopped_at_band=stop.band
        )
    return RunOutcome(RunState.FINISHED, exit_code=0)


def _png(png: bytes) -> tuple[int, int, float]:
    """A PNG's width, height and share of bytes that are not white (0xFF) once inflated."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    at, idat = 8, b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        if png[at + 4 : at + 8] == b"IDAT":
            idat += png[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(idat)
    return width, height, 1 - raw.count(0xFF) / len(raw)


def _save(driver: Any, name: str, artifacts: Path) -> Path:
    png = driver.get_screenshot_as_png()
    width, height, ink = _png(png)
    assert (width, height) == tuple(
        driver.execute_script(
            "return [window.innerWidth * devicePixelRatio, window.innerHeight * devicePixelRatio]"
        )
    )
    assert ink > 0.05, f"{name} is nearly blank ({ink:.1%} not white)"
    write = os.environ.get("LOCALSWEEP_WRITE_SCREENSHOTS") == "1"
    out = (DOCS_IMAGES if write else artifacts) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out


class _Slow:
    """A run that logs its first values at once, then one every half second until told to
    stop: on the screenshots it is running, its curve growing."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.stop = threading.Event()

    def __call__(self, run: RunRecord, recorder: RunRecorder) -> RunOutcome:
        rng = random.Random(run.id)
        for step in range(STEPS):
            if step == 8:
                self.started.set()
            if step >= 8 and self.stop.wait(0.5):
                break
            # A good run, so that hyperband keeps it running for the pictures.
            value = 0.5 * _loss(run.config, step, rng)
            recorder.on_log({"val_loss": value, "epoch": step}, step)
        else:
            self.stop.wait(300)  # still running until the pictures are taken, however slow
        return RunOutcome(RunState.FINISHED, exit_code=0)


def test_the_docs_screenshots_of_the_sweep_and_run_pages(
    driver: Any, serve: Any, db: str, artifacts: Path
) -> None:
    store = Store(db)
    sweep_id = store.create_sweep(load_config(CONFIG)).id
    Agent(store, sweep_id, runner=_runner, count=40).run()
    runner = _Slow()
    agent = threading.Thread(
        target=lambda: Agent(Store(db), sweep_id, runner=runner, count=1).run(), daemon=True
    )
    agent.start()
    try:
        assert runner.started.wait(60), "the running run did not start"
        driver.set_window_size(1280, 1500)
        driver.get(serve() + f"sweeps/{sweep_id}")
        wait_for(
            lambda: (
                "Computing"
                not in driver.find_element("css selector", '[data-part="importance"]').text
            ),
            timeout=60,
            what="the importance",
        )
        wait_for(
            lambda: driver.execute_script(
                "var n = document.querySelectorAll('.ls-plot').length;"
                "return n >= 5 && document.querySelectorAll('.js-plotly-plot').length === n;"
            ),
            timeout=60,
            what="every plot drawn",
        )
        assert (
            driver.find_element("css selector", "#runs-table tbody tr").get_attribute("data-state")
            == "running"
        )  # newest first: the run still running
        assert driver.find_element("id", "js-errors").get_attribute("data-count") == "0"
        _save(driver, "ui-sweep.png", artifacts)
        driver.execute_script("document.getElementById('parallel').scrollIntoView()")
        wait_for(lambda: driver.execute_script("return window.scrollY > 0"), what="a scroll")
        _save(driver, "ui-sweep-plots.png", artifacts)
        driver.execute_script("document.getElementById('curves').scrollIntoView()")
        _save(driver, "ui-sweep-curves.png", artifacts)

        best = localsweep.Api(db).sweep(sweep_id).best_run()
        assert best is not None
        driver.set_window_size(1280, 1000)
        driver.get(serve() + f"runs/{best.id}")
        wait_for(
            lambda: (
                driver.find_element("tag name", "body").get_attribute("data-plots-rendered")
                == str(len(driver.find_elements("css selector", ".ls-plot")))
            ),
            what="the run's plots",
        )
        assert driver.find_element("id", "run-id").text == best.id
        _save(driver, "ui-run.png", artifacts)
    finally:
        runner.stop.set()
        agent.join(timeout=60)

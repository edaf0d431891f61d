"""Real sweeps for the report tests, and a headless Chromium to open reports in.

Sweeps run through the real store, agent, recorder and hyperband. Runs that log a curve
use the agent's ``runner`` seam (the same one the subprocess runner plugs into) to feed
the real recorder step by step, which is what wandb's log hook does, minus wandb's
start-up cost; one module-scoped sweep goes through real wandb in offline mode.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.agent import Agent, RunOutcome, RunRecorder, RunStopped
from localsweep.config import load_config
from localsweep.records import RunState
from localsweep.store import RunRecord, Store

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from chromium import HEADLESS_FLAGS, chromium_binary

Curve = Callable[[Mapping[str, Any], int], float]


def run_logging_sweep(
    config: Mapping[str, Any], curve: Curve, steps: int, count: int, db: Path
) -> localsweep.Sweep:
    """Create a sweep and run ``count`` runs, each logging ``curve(config, step)`` as the
    metric for ``steps`` steps (hyperband may stop them); returns the sweep as read back."""
    store = Store(db)
    try:
        sweep_id = store.create_sweep(load_config(config)).id
        metric = config["metric"]["name"]

        def runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
            try:
                for step in range(steps):
                    recorder.on_log({metric: curve(run.config, step)}, step)
            except RunStopped as stop:
                return RunOutcome(
                    RunState.EARLY_TERMINATED, exit_code=stop.exit_code, stopped_at_band=stop.band
                )
            return RunOutcome(RunState.FINISHED, exit_code=0)

        Agent(store, sweep_id, runner=runner, count=count).run()
    finally:
        store.close()
    return localsweep.Api(db).sweep(sweep_id)


HYPERBAND_CONFIG: dict[str, Any] = {
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
    "localsweep": {"seed": 7},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
        "optimizer": {"values": ["adam", "sgd", "rmsprop"]},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 6},
        "model": {"parameters": {"dropout": {"min": 0.0, "max": 0.5}}},
    },
}


def hyperband_curve(config: Mapping[str, Any], step: int) -> float:
    """A loss that falls with steps, lower for learning rates near 1e-2."""
    import math

    distance = abs(math.log10(config["lr"]) + 2.0)
    return (1.0 + distance) / (1.0 + step) + 0.05 * config["layers"]


@pytest.fixture(scope="module")
def hyperband_sweep(tmp_path_factory: pytest.TempPathFactory) -> localsweep.Sweep:
    """30 runs of 8 steps, some stopped early by hyperband."""
    db = tmp_path_factory.mktemp("hyperband") / "s.db"
    return run_logging_sweep(HYPERBAND_CONFIG, hyperband_curve, steps=8, count=30, db=db)


@pytest.fixture(scope="module")
def wandb_sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localsweep.Sweep]:
    """A sweep whose train() uses wandb.init / wandb.config / wandb.log, offline."""
    import wandb

    tmp = tmp_path_factory.mktemp("wandb")
    config = {
        "method": "grid",
        "metric": {"name": "acc", "goal": "maximize"},
        "parameters": {"width": {"values": [8, 32]}, "act": {"values": ["relu", "tanh"]}},
    }

    def train() -> None:
        with wandb.init() as run:
            width = run.config["width"]
            for step in range(4):
                run.log({"acc": (step + 1) * width / 200, "loss": 1.0 / (1 + step)})

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_DISABLE_GIT", "true")
        mp.setenv("WANDB_DIR", str(tmp))
        mp.chdir(tmp)
        sweep = localsweep.run(config, train, count=4, db=tmp / "s.db")
        yield sweep


# ---------------------------------------------------------------------------------------
# Headless Chromium


@dataclass(frozen=True)
class Page:
    """A page as headless Chromium left it after its scripts ran."""

    dom: str

    def attribute(self, element_id: str, name: str) -> str | None:
        tag = re.search(rf'<[^>]*\bid="{re.escape(element_id)}"[^>]*>', self.dom)
        if tag is None:
            return None
        found = re.search(rf'\b{re.escape(name)}="([^"]*)"', tag.group(0))
        return found.group(1) if found else None

    def body_attribute(self, name: str) -> str | None:
        tag = re.search(r"<body[^>]*>", self.dom)
        assert tag is not None
        found = re.search(rf'\b{re.escape(name)}="([^"]*)"', tag.group(0))
        return found.group(1) if found else None

    def texts(self, tag: str) -> list[str]:
        """The text of every ``tag`` element, as a reader sees it (entities decoded)."""
        return _TextCollector.collect(self.dom, tag)

    def plot_divs(self) -> int:
        """Elements plotly turned into plots (it adds the ``js-plotly-plot`` class)."""
        return len(re.findall(r'<div class="[^"]*\bjs-plotly-plot\b[^"]*"', self.dom))

    def js_errors(self) -> str:
        found = re.search(r'<pre id="js-errors"[^>]*>(.*?)</pre>', self.dom, re.S)
        assert found is not None, "the error hook's element is missing"
        return found.group(1)


class _TextCollector(HTMLParser):
    def __init__(self, tag: str):
        super().__init__(convert_charrefs=True)
        self.tag = tag
        self.depth = 0
        self.found: list[str] = []

    @classmethod
    def collect(cls, dom: str, tag: str) -> list[str]:
        parser = cls(tag)
        parser.feed(dom)
        return parser.found

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.tag:
            self.depth += 1
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self.tag and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.found[-1] += data


class Browser:
    """Runs Chromium headless on a file: ``--dump-dom`` for the DOM after the page's
    scripts ran, ``--screenshot`` for a picture."""

    def __init__(self, binary: str, profile: Path):
        self.binary = binary
        self.profile = profile

    def _args(self, *extra: str) -> list[str]:
        return [
            self.binary,
            *HEADLESS_FLAGS,
            f"--user-data-dir={self.profile}",
            # Time for plotly's promises and WebGL plots to settle before the dump.
            "--virtual-time-budget=15000",
            *extra,
        ]

    def open(self, path: Path) -> Page:
        done = subprocess.run(
            [*self._args("--dump-dom"), path.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return Page(done.stdout)

    def screenshot(self, path: Path, out: Path, height: int = 6000) -> Path:
        done = subprocess.run(
            [
                *self._args(f"--window-size=1400,{height}", f"--screenshot={out}"),
                path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
        return out


@pytest.fixture
def browser(tmp_path: Path) -> Browser:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    return Browser(binary, tmp_path / "chromium-profile")


@pytest.fixture
def artifacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where a test keeps files worth looking at: $LOCALSWEEP_TEST_ARTIFACTS or tmp_path."""
    root = os.environ.get("LOCALSWEEP_TEST_ARTIFACTS")
    out = Path(root) / "report" / request.node.name if root else tmp_path / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    return out

"""Fixtures for ``localsweep ui``: a sweep with runs, a real uvicorn server on loopback,
and a real headless Chromium driven through Debian's chromedriver."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import CONFIG, train

import localsweep

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "ui.db")


@pytest.fixture
def small_sweep(db: str) -> localsweep.Sweep:
    return localsweep.run(CONFIG, train, count=5, db=db)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(db: str) -> Iterator[Callable[..., str]]:
    """Start the UI over ``db`` in this process (uvicorn in a thread); returns its URL."""
    import uvicorn

    from localsweep.store import Store
    from localsweep.ui import UiSettings, create_app

    servers: list[tuple[Any, threading.Thread]] = []

    def start(settings: UiSettings | None = None) -> str:
        port = _free_port()
        app = create_app(Store(db), settings or UiSettings())
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the UI server did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}/"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium under Debian's chromedriver (never a downloaded driver)."""
    binary, chromedriver = _chromium(), shutil.which("chromedriver")
    if binary is None or chromedriver is None:
        pytest.skip(
            "headless Chromium and chromedriver are not installed "
            "(apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    # Selenium Manager would fetch a driver from the internet: name Debian's instead.
    os.environ["SE_OFFLINE"] = "true"
    browser = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def artifacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where a test keeps files worth looking at: $LOCALSWEEP_TEST_ARTIFACTS or tmp_path."""
    root = os.environ.get("LOCALSWEEP_TEST_ARTIFACTS")
    out = Path(root) / "ui" / request.node.name if root else tmp_path / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    return out

"""Fixtures for ``localsweep ui``: a sweep with runs, a real uvicorn server on loopback,
and a real headless Chromium driven through Debian's chromedriver."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import CONFIG, MISSING, chromium_paths, headless_chromium, train

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


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium under Debian's chromedriver (never a downloaded driver)."""
    if chromium_paths() is None:
        pytest.skip(MISSING)
    pytest.importorskip("selenium.webdriver")
    browser = headless_chromium(tmp_path / "profile")
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

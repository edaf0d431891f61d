"""Headless Chromium under Debian's chromedriver, driven by Selenium: one setup for the UI's
browser tests (tests/ui) and its benchmark (benchmarks/ui.py). Never a downloaded driver:
Selenium Manager would fetch one from the internet, so Debian's is named explicitly."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["HEADLESS_FLAGS", "MISSING", "chromium_binary", "chromium_paths", "headless_chromium"]

#: Why a browser test cannot run when Chromium or its driver is absent.
MISSING = (
    "headless Chromium and chromedriver are not installed "
    "(apt-get install chromium chromium-driver)"
)


#: The switches of every headless Chromium the tests start: no sandbox or GPU (none in CI),
#: no network of its own (updates, sync), nothing asked on a first run.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium_binary() -> str | None:
    """The Chromium (or Chrome) binary on the PATH, or ``None``."""
    names = ("chromium", "chromium-browser", "google-chrome", "chrome")
    return next((found for name in names if (found := shutil.which(name))), None)


def chromium_paths() -> tuple[str, str] | None:
    """The Chromium binary and chromedriver, or ``None`` when either is missing."""
    binary = chromium_binary()
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


def headless_chromium(
    profile: Path, *, width: int = 1400, height: int = 1000, page_load: str = "normal"
) -> Any:
    """A Selenium driver of a fresh headless Chromium with its profile in ``profile``.
    ``page_load="none"``: ``get`` returns at once, not when the page has loaded (to time
    what shows before that)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise RuntimeError(MISSING)
    binary, chromedriver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    options.page_load_strategy = page_load
    for flag in (*HEADLESS_FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    os.environ["SE_OFFLINE"] = "true"
    browser = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    browser.set_page_load_timeout(60)
    return browser

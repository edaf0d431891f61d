"""``localsweep ui`` as a user starts it: a real process, on the address given with
``--host``; the URL it prints is the one to open, and it opens."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ui_helpers import wait_for

import localsweep

# A Python without the ui extra: starlette and uvicorn cannot be imported.
WITHOUT_UI_EXTRA = textwrap.dedent(
    """
    import sys

    class NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("starlette", "uvicorn"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    sys.argv = ["localsweep", *sys.argv[1:]]
    from localsweep._main import main
    main()
    """
)


def test_without_the_ui_extra_it_says_which_extra_to_install(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    localsweep.sweep({"method": "grid", "parameters": {"x": {"values": [1]}}}, db=db)
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_UI_EXTRA, "ui", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "localsweep ui needs starlette" in done.stderr
    assert "pip install 'localsweep[ui]'" in done.stderr


@pytest.fixture
def start_ui(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start ``localsweep ui --port 0`` with the given options; returns the URL it prints."""
    db = str(tmp_path / "s.db")
    localsweep.sweep({"method": "grid", "parameters": {"x": {"values": [1]}}}, db=db)
    started: list[subprocess.Popen[str]] = []

    def start(*options: str) -> str:
        command = [sys.executable, "-m", "localsweep", "ui", "--db", db, "--port", "0"]
        ui = subprocess.Popen([*command, *options], stderr=subprocess.PIPE, text=True)
        started.append(ui)
        assert ui.stderr is not None
        said = []
        for line in ui.stderr:
            said.append(line)
            if line.startswith("open "):
                return line.split()[1]
        raise AssertionError(f"localsweep ui printed no URL: {''.join(said)}")

    yield start
    for ui in started:
        ui.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            ui.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            ui.kill()
            ui.communicate()


def _open(url: str | urllib.request.Request) -> tuple[int, str]:
    """What a browser gets for ``url`` (no proxy): its status and page; raises while the
    server does not listen yet."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_an_ipv6_address_is_printed_in_brackets_and_the_url_opens(
    start_ui: Callable[..., str],
) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    url = start_ui("--host", "::1")
    assert re.fullmatch(r"http://\[::1\]:\d+/", url), url
    status, page = wait_for(lambda: _open(url), what=f"{url} to answer")
    assert status == 200, page


def _loopback_hostname() -> str | None:
    """This machine's name when it resolves to loopback alone (/etc/hosts often says
    127.0.1.1), else None."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        return None
    return name if all(a.startswith("127.") or a == "::1" for a in addresses) else None


@pytest.mark.parametrize("host", ["127.0.0.2", "hostname"])
def test_a_loopback_host_answers_at_the_printed_url_and_to_no_other_name(
    start_ui: Callable[..., str], host: str
) -> None:
    if host == "hostname":
        host = _loopback_hostname() or pytest.skip("this machine's name is not loopback")
    url = start_ui("--host", host)
    assert url.startswith(f"http://{host}:"), url
    status, page = wait_for(lambda: _open(url), what=f"{url} to answer")
    assert status == 200, page
    assert "<!DOCTYPE html>" in page
    # Still no other name: a page on another site whose name is made to resolve to this
    # address (DNS rebinding) is refused.
    rebound = urllib.request.Request(url, headers={"Host": "attacker.example"})
    status, page = _open(rebound)
    assert status == 403, page

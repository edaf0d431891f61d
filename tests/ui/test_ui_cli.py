"""``localsweep ui`` as a user starts it: a real process, on the address given with
``--host``; the URL it prints is the one to open, and it opens."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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

"""``localsweep`` on the command line in a real process, as the tests run it.

Put this folder on ``sys.path`` and import :func:`cli` (in the test's working directory,
which ``tests/conftest.py`` makes its ``tmp_path``) or :func:`cli_at` (in a folder given).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["cli", "cli_at"]


def cli_at(
    cwd: str | os.PathLike[str] | None,
    *args: str,
    columns: int | None = 200,
    env: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m localsweep.cli ARGS`` in ``cwd``, its output piped, and return it
    (whatever the exit code). The environment is the test's, without ``LOCALSWEEP_DB``
    (the sweeps a test reads are the ones it names), without the variables in ``drop``,
    with ``COLUMNS`` set to ``columns`` (``None``: unset, as when a user pipes into grep
    or a file), then ``env`` on top."""
    dropped = {"LOCALSWEEP_DB", "COLUMNS", *drop}
    full = {k: v for k, v in os.environ.items() if k not in dropped}
    if columns is not None:
        full["COLUMNS"] = str(columns)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "localsweep.cli", *args],
        capture_output=True,
        text=True,
        cwd=Path(cwd) if cwd is not None else None,
        env=full,
        timeout=timeout,
        check=False,
    )


def cli(
    *args: str,
    columns: int | None = 200,
    env: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """:func:`cli_at` in the working directory."""
    return cli_at(None, *args, columns=columns, env=env, drop=drop, timeout=timeout)

"""Offline mode that holds for every process a run starts, not only those that keep ``WANDB_MODE``.

localsweep hands a run offline mode through ``WANDB_MODE=offline`` (program mode) or
``wandb.setup(Settings(mode="offline"))`` (in-process). A program that clears the ``WANDB_*``
variables before starting worker processes that call ``wandb.init`` (wandb's own
cross-validation example does) would send those runs online: they would upload with a
logged-in user, or fail and hang without one.

wandb 0.31 also reads its *workspace settings file*, ``<root_dir>/wandb/settings`` (INI,
section ``[default]``; ``.wandb/settings`` when a ``.wandb`` folder exists), where
``root_dir`` is ``WANDB_DIR`` or, once that is cleared, the working directory. It overrides
the user's global settings (``~/.config/wandb/settings``, where ``wandb login --host`` puts
``base_url``), and environment variables override it. ``wandb offline`` writes ``mode =
offline`` there. localsweep does the same in the agent's working directory and in
``WANDB_DIR``, so a process started without any ``WANDB_*`` variable is offline too;
``wandb online`` (or ``WANDB_MODE=online`` set by the program itself) undoes it.

The file outlives the sweep: a later plain ``python train.py`` in that folder is offline too.
So whenever localsweep creates the line or changes it, it says so once, as a warning (on
stderr unless logging is set up otherwise): what it wrote, why, and how to undo it.
"""

from __future__ import annotations

import configparser
import contextlib
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

__all__ = ["keep_offline", "workspace_settings_path"]

logger = logging.getLogger(__name__)

_SECTION = "default"

#: The workers of one agent process keep offline at once: one writes and says so.
_lock = threading.Lock()


def workspace_settings_path(root: str | os.PathLike[str]) -> Path:
    """The workspace settings file wandb reads for a process whose root dir is ``root``."""
    root = Path(root)
    folder = ".wandb" if (root / ".wandb").is_dir() else "wandb"
    return root / folder / "settings"


def keep_offline(roots: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Make wandb offline for any process whose root dir is one of ``roots``: set ``mode =
    offline`` in each root's workspace settings file, keeping its other settings. Returns
    the files written (those already offline are left alone)."""
    with _lock:
        return _keep_offline(roots)


def _keep_offline(roots: Iterable[str | os.PathLike[str]]) -> list[Path]:
    written: list[Path] = []
    for path in sorted({workspace_settings_path(Path(r).resolve()) for r in roots}):
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except (OSError, configparser.Error):
            logger.warning("cannot read wandb's settings file %s; writing a fresh one", path)
            parser = configparser.ConfigParser()
        if not parser.has_section(_SECTION):
            parser.add_section(_SECTION)
        previous = parser.get(_SECTION, "mode", fallback=None)
        if previous == "offline":
            continue
        parser.set(_SECTION, "mode", "offline")
        partial = path.with_name(f"settings.localsweep-{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "w", encoding="utf-8") as f:
                parser.write(f)
            os.replace(partial, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)  # a full disk leaves it empty behind
            logger.warning("%s", _unwritten_message(path, exc))
            continue
        logger.warning("%s", _written_message(path, previous))
        written.append(path)
    return written


def _unwritten_message(path: Path, exc: OSError) -> str:
    """What to say when ``mode = offline`` could not be written to ``path`` (a read-only
    code folder in a container, with ``WANDB_DIR`` on a data volume): what it leaves out,
    which is little, and how to have it."""
    reason = exc.strerror or str(exc)
    return (
        f"could not write `mode = offline` to wandb's settings file {path} ({reason}). Runs "
        "stay offline all the same (WANDB_MODE, and localsweep's guard on wandb.init); only "
        "a process a run starts that clears both the WANDB_* variables and PYTHONPATH, in "
        f"{path.parent.parent}, misses this second guard. To have it, make that folder "
        "writable or start the agent from a writable folder"
    )


def _written_message(path: Path, previous: str | None) -> str:
    """What to say once localsweep wrote ``mode = offline`` to ``path`` (``previous``: the
    mode it said before, ``None`` when it had none)."""
    done = (
        f"changed `mode = {previous}` to `mode = offline` in"
        if previous is not None
        else "wrote `mode = offline` to"
    )
    root = path.parent.parent
    return (
        f"localsweep {done} wandb's settings file {path}, as `wandb offline` does, so that "
        "every process a run starts stays offline, even one that clears WANDB_MODE. The "
        f"file stays after the sweep: later wandb runs started in {root} are offline too. "
        f"To log online there again, run `wandb online` in {root} (or delete that line)."
    )

"""The agent's side of "offline for every process a function-mode run starts".

While a run of a function is open (:func:`hold_offline` ... :func:`release_offline`), this
process's environment carries ``WANDB_MODE=offline``, localsweep's boot folder first on
``PYTHONPATH`` (whose ``sitecustomize`` makes every Python child's ``wandb.init`` offline,
see :mod:`._forced_offline`) and the path of a note file where such a child writes what
mode it asked for and did not get. Every ``wandb.init`` of this process, whatever name it
is called by, is made offline too (:func:`._forced_offline.guard_init_settings`).

A sweep opens and closes a hold for every run, so a hold costs little: the note file is
made once per process (and removed when it exits; files of agents killed before that are
removed by the next agent of the machine), and read only when a child wrote to it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localsweep.wandb_bridge import _forced_offline as forced
from localsweep.wandb_bridge._forced_offline import BOOT_DIR, KEPT_MODES, NOTE_VARIABLE

__all__ = ["hold_offline", "release_offline"]

# The environment the first hold changed: what it set, and what was there before.
_held_env: dict[str, str] = {}
_saved_env: dict[str, str | None] = {}
_guarded = False

#: This process's note file, and the process that made it (a forked child makes its own).
_note: tuple[int, str] | None = None
_NOTE_SUFFIX = ".forced-offline"
#: The name an older localsweep gave the note file of each run (``mkstemp``'s 8 letters).
_OLD_NOTE = re.compile(r"localsweep-[a-z0-9_]{8}\.forced-offline")


def _note_prefix(pid: int) -> str:
    host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40]
    return f"localsweep-{host}-{pid}-"


def _process_note() -> str | None:
    """The note file of this process, made on first use (``None``: none can be made, and
    each child then warns on its own stderr)."""
    global _note
    pid = os.getpid()
    if _note is not None and _note[0] == pid:
        return _note[1]
    _remove_stale_notes()
    try:
        fd, path = tempfile.mkstemp(prefix=_note_prefix(pid), suffix=_NOTE_SUFFIX)
        os.close(fd)
    except OSError:
        return None
    _note = (pid, path)
    atexit.register(_remove_note, pid, path)
    return path


def _remove_note(pid: int, path: str) -> None:
    if os.getpid() == pid:  # not a forked child's exit: the file is its parent's
        with contextlib.suppress(OSError):
            os.unlink(path)


def _remove_stale_notes() -> None:
    """Remove the note files of this machine's processes that are gone (an agent killed
    with SIGKILL leaves its file behind)."""
    prefix = _note_prefix(0)[: -len("0-")]
    try:
        names = os.listdir(tempfile.gettempdir())
    except OSError:
        return
    folder = tempfile.gettempdir()
    for name in names:
        if not name.endswith(_NOTE_SUFFIX):
            continue
        if _OLD_NOTE.fullmatch(name):  # an older localsweep's, one per run: if empty and old
            with contextlib.suppress(OSError):
                path = os.path.join(folder, name)
                info = os.stat(path)
                if info.st_size == 0 and time.time() - info.st_mtime > 86400:
                    os.unlink(path)  # a child of a run still open would make it again
            continue
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _take_note(path: str) -> list[str]:
    """The modes noted in ``path`` since it was last taken, each once; the file is emptied
    (it stays: a child still running may write to it)."""
    try:
        if os.stat(path).st_size == 0:
            return []
        with open(path, "r+", encoding="utf-8") as f:
            asked = [line for line in f.read().splitlines() if line]
            f.seek(0)
            f.truncate()
    except OSError:
        return []
    return list(dict.fromkeys(asked))


def _sync_wandb_environ(keys: Any) -> None:
    """Tell wandb's settings singleton that the ``WANDB_*`` variables localsweep changed are
    as they are now: it compares the environment with the one it read at setup and warns at
    every ``wandb.init`` that changes are ignored (they are: the run is offline anyway)."""
    try:
        from wandb.sdk import wandb_setup

        environ = getattr(wandb_setup._singleton, "_settings_environ", None)
    except Exception:
        return
    if environ is None:
        return
    for key in keys:
        if key.startswith("WANDB_"):
            value = os.environ.get(key)
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value


def _forced_in_hold(asked: str) -> None:
    with forced._hold_lock:
        on_forced = forced._holds[-1] if forced._holds else None
    if on_forced is not None:
        on_forced(asked)


def hold_offline(on_forced: Callable[[str], None]) -> None:
    """Keep every process this process starts offline, and every ``wandb.init`` of this
    process whatever name it is called by, until the matching :func:`release_offline`
    (holds nest: the last release undoes it). The environment gets ``WANDB_MODE=offline``
    (unless it is ``offline``, ``dryrun`` or ``disabled`` already), the boot folder first on
    ``PYTHONPATH`` and a note file for what its Python children asked for; ``on_forced``
    is told what a call of this process asked for."""
    global _guarded
    with forced._hold_lock:
        forced._holds.append(on_forced)
        if len(forced._holds) == 1:
            held: dict[str, str] = {}
            if os.environ.get("WANDB_MODE") not in KEPT_MODES:
                held["WANDB_MODE"] = "offline"
            path = os.environ.get("PYTHONPATH", "")
            if path.split(os.pathsep)[0] != str(BOOT_DIR):
                held["PYTHONPATH"] = os.pathsep.join(p for p in (str(BOOT_DIR), path) if p)
            note = _process_note()
            if note is not None:
                held[NOTE_VARIABLE] = note
            _saved_env.update({key: os.environ.get(key) for key in held})
            os.environ.update(held)
            _held_env.update(held)
            _sync_wandb_environ(held)
        # The hook needs wandb imported: a run that has not imported it pays nothing, and
        # the next hold after its import adds the hook.
        guard = not _guarded and "wandb" in sys.modules
        _guarded = _guarded or guard
    if guard:
        forced.guard_init_settings(lambda: bool(forced._holds), _forced_in_hold)


def release_offline(report: Callable[[str], None]) -> None:
    """Undo one :func:`hold_offline`; the last one puts back each variable it set (one the
    training code changed since is left as the code set it), and tells ``report`` what the
    children asked for."""
    with forced._hold_lock:
        if forced._holds:
            forced._holds.pop()
        if forced._holds:
            return
        note = _held_env.get(NOTE_VARIABLE)
        for key, value in _held_env.items():
            if os.environ.get(key) != value:
                if key == "PYTHONPATH":  # the code added to it: keep its part, not ours
                    _drop_boot_dir()
                continue
            previous = _saved_env.get(key)
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
        _sync_wandb_environ(list(_held_env))
        _held_env.clear()
        _saved_env.clear()
    if note is not None:
        for asked in _take_note(note):
            report(asked)


def _drop_boot_dir() -> None:
    """Take localsweep's boot folder (put first by :func:`hold_offline`) out of a
    ``PYTHONPATH`` the training code changed since."""
    parts = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(BOOT_DIR) in parts:
        parts.remove(str(BOOT_DIR))
        os.environ["PYTHONPATH"] = os.pathsep.join(parts)


def note_files() -> list[Path]:
    """This machine's note files in the temporary folder (for tests and diagnostics)."""
    prefix = _note_prefix(0)[: -len("0-")]
    folder = Path(tempfile.gettempdir())
    return sorted(p for p in folder.glob(f"{prefix}*{_NOTE_SUFFIX}"))

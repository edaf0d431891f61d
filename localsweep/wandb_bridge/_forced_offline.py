"""``wandb.init`` that runs offline whatever mode the training code asks for.

An explicit ``wandb.init(mode="online")`` (or ``settings=wandb.Settings(mode="online")``, or
a settings dict with ``mode``) beats ``WANDB_MODE`` and the workspace settings file in wandb
0.31 (``wandb_init.init`` sets ``init_settings.mode``, and ``make_run_settings`` lays the
init settings over the process's), and wandb has no setting that forces offline over it.
So localsweep replaces ``wandb.init`` by :func:`offline_init` of it: a mode other than
``offline`` / ``dryrun`` / ``disabled`` becomes ``offline``, and the caller is told what
was asked (once is enough for it to warn about).

This module uses the standard library only and imports nothing of localsweep: a program-mode
child loads it by file path from ``_boot/sitecustomize.py``, under whatever Python (and
wandb version) the user's command runs.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

__all__ = [
    "BOOT_DIR",
    "KEPT_MODES",
    "NOTE_VARIABLE",
    "keep_child_offline",
    "offline_init",
    "online_failure_hint",
    "report_child",
    "warn_once",
]

logger = logging.getLogger(__name__)

#: The folder put first on a program-mode child's ``PYTHONPATH`` (its ``sitecustomize``).
BOOT_DIR = Path(__file__).resolve().parent / "_boot"
#: Names the file where a child notes each mode it was asked for and did not get.
NOTE_VARIABLE = "LOCALSWEEP_FORCED_OFFLINE_NOTE"

#: Modes under which nothing leaves the machine; every other mode is made ``offline``.
KEPT_MODES = frozenset({"offline", "dryrun", "disabled"})


def _mode_of(settings: Any) -> Any:
    """The mode ``settings`` (a dict or a ``wandb.Settings``) sets explicitly, else None."""
    if isinstance(settings, dict):
        return settings.get("mode")
    fields_set = getattr(settings, "model_fields_set", None)
    if fields_set is not None and "mode" not in fields_set:
        return None  # wandb.Settings() without mode: its default is not asked for
    return getattr(settings, "mode", None)


def _offline_settings(settings: Any) -> Any:
    if isinstance(settings, dict):
        copy = dict(settings)
        copy["mode"] = "offline"
        return copy
    try:
        copy = settings.model_copy()  # the user's object is left as it was
    except AttributeError:
        copy = settings
    copy.mode = "offline"
    return copy


def offline_init(original: Callable[..., Any], on_forced: Callable[[str], None]) -> Any:
    """``original`` (wandb's ``init``) with every asked-for mode that could send data made
    ``offline``; ``on_forced(asked)`` is called (before ``original``) each time that
    happens, ``asked`` being the mode the code asked for."""
    try:
        parameters = list(inspect.signature(original).parameters)
    except (TypeError, ValueError):
        parameters = []

    @functools.wraps(original)
    def init(*args: Any, **kwargs: Any) -> Any:
        if "mode" in parameters and len(args) > parameters.index("mode"):
            # Mode given by position (the 14th parameter): name every positional argument.
            kwargs.update(zip(parameters, args))  # noqa: B905 (any Python 3)
            args = ()
        asked = []
        mode = kwargs.get("mode")
        if mode is not None and str(mode) not in KEPT_MODES:
            asked.append(str(mode))
            kwargs["mode"] = "offline"
        settings = kwargs.get("settings")
        settings_mode = _mode_of(settings) if settings is not None else None
        if settings_mode is not None and str(settings_mode) not in KEPT_MODES:
            if mode is None or str(mode) not in KEPT_MODES:
                asked.append(str(settings_mode))
            kwargs["settings"] = _offline_settings(settings)
        for what in dict.fromkeys(asked):
            on_forced(what)
        return original(*args, **kwargs)

    init.__localsweep_offline__ = True  # type: ignore[attr-defined]
    return init


_warned_lock = threading.Lock()
_warned: set[str] = set()


def warn_once(sweep_id: str, asked: str) -> None:
    """Log, once per sweep, that a run asked for ``mode=asked`` and ran offline."""
    with _warned_lock:
        if sweep_id in _warned:
            return
        _warned.add(sweep_id)
    logger.warning(
        "the training code calls wandb.init with mode=%r; localsweep runs every run of "
        "sweep %s offline (nothing leaves the machine): `localsweep sync` uploads them later",
        asked,
        sweep_id,
    )


def keep_child_offline(env: MutableMapping[str, str], note: str | os.PathLike[str]) -> None:
    """Make a program-mode child's ``wandb.init`` offline whatever mode it asks for: the
    boot folder first on its ``PYTHONPATH``, and where to note what it asked for."""
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BOOT_DIR), env.get("PYTHONPATH", "")) if p)
    env[NOTE_VARIABLE] = os.fspath(note)


def report_child(sweep_id: str, note: str | os.PathLike[str]) -> list[str]:
    """The modes a finished child asked for (from its note, which is removed), each warned
    about once per sweep."""
    note = Path(note)
    try:
        asked = [line for line in note.read_text(encoding="utf-8").splitlines() if line]
    except OSError:
        return []
    note.unlink(missing_ok=True)
    for mode in dict.fromkeys(asked):
        warn_once(sweep_id, mode)
    return asked


# What wandb 0.31 says when a run it was asked to start online cannot log in or reach the
# server: seen only when a process escaped the boot folder (see keep_child_offline).
_ONLINE_FAILURES = (
    "No API key configured",
    "wandb.errors.errors.CommError",
    "wandb.errors.errors.AuthenticationError",
)


def online_failure_hint(output: str) -> str | None:
    """The fix for a program-mode run that failed trying to go online (``output``: the end
    of its stderr), or ``None`` when its output shows no such thing."""
    if not any(sign in output for sign in _ONLINE_FAILURES):
        return None
    return (
        "wandb.init tried to reach a W&B server in a process localsweep could not keep "
        "offline (one started without the run's PYTHONPATH, or with python -S, -I or -E): "
        'the code asks for online mode (mode="online"). Remove it, or write '
        'mode=os.environ.get("WANDB_MODE"); `localsweep sync` uploads the runs afterwards'
    )

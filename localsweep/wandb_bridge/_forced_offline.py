"""``wandb.init`` that runs offline whatever mode the training code asks for.

An explicit ``wandb.init(mode="online")`` (or ``settings=wandb.Settings(mode="online")``, or
a settings dict with ``mode``) beats ``WANDB_MODE`` and the workspace settings file in wandb
0.31 (``wandb_init.init`` sets ``init_settings.mode``, and ``make_run_settings`` lays the
init settings over the process's), and wandb has no setting that forces offline over it.
So localsweep replaces ``wandb.init`` by :func:`offline_init` of it: a mode other than
``offline`` / ``dryrun`` / ``disabled`` becomes ``offline``, and the caller is told what
was asked (once is enough for it to warn about). A call that asks for no mode is given
``mode="offline"`` explicitly (unless ``WANDB_MODE`` says ``disabled``): the environment at
the time of the call is the program's own, and ``os.environ["WANDB_MODE"] = "online"`` (a
``--wandb_mode`` option's default) or a process that cleared ``WANDB_*`` would otherwise go
online; a ``WANDB_MODE`` that could send data is told as ``WANDB_MODE=<mode>``.

Replacing the attribute misses a reference bound before it (``from wandb import init``
imported before ``localsweep.run``) and wandb's other names for it (``wandb.sdk.init``,
``wandb.sdk.wandb_init.init``). Every name goes through ``_WandbInit.maybe_login(
init_settings)`` before anything can leave (wandb 0.31: it logs in unless the settings are
offline; ``make_run_settings`` then lays the same settings over the process's), so
:func:`guard_init_settings` makes them offline there, by the same rules.

In function mode, :func:`._offline_hold.hold_offline` covers the processes a run starts:
while a run is open, the agent's own environment carries ``WANDB_MODE=offline`` and the
boot folder on ``PYTHONPATH``, as a program-mode child's does (:func:`keep_child_offline`).

This module uses the standard library only and imports nothing of localsweep: a program-mode
child loads it by file path from ``_boot/sitecustomize.py``, under whatever Python (and
wandb version) the user's command runs.
"""

from __future__ import annotations

import contextlib
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
    "guard_init_settings",
    "keep_child_offline",
    "missing_run_dir_message",
    "offline_init",
    "offline_login",
    "online_failure_hint",
    "report_child",
    "reported_run_dirs",
    "started_a_run",
    "started_other_runs",
    "warn_once",
]

logger = logging.getLogger(__name__)

#: The folder put first on a program-mode child's ``PYTHONPATH`` (its ``sitecustomize``).
BOOT_DIR = Path(__file__).resolve().parent / "_boot"
#: Names the file where a child notes each mode it was asked for and did not get.
NOTE_VARIABLE = "LOCALSWEEP_FORCED_OFFLINE_NOTE"
#: Names the file where a child notes each ``wandb.init`` call and the folder of its run.
RUN_DIR_VARIABLE = "LOCALSWEEP_RUN_DIR_NOTE"

#: Modes under which nothing leaves the machine; every other mode is made ``offline``.
KEPT_MODES = frozenset({"offline", "dryrun", "disabled"})

#: ``WANDB_MODE`` in the environment this process was started with (for the agent: the
#: user's shell), to tell it apart from a ``WANDB_MODE`` the training code sets itself.
_STARTED_WITH_MODE = os.environ.get("WANDB_MODE") or None
#: Heads what a call "asked" for when the ``WANDB_MODE`` came from that environment.
_INHERITED = "environment:"


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


_parameter_names: dict[Any, list[str]] = {}


def _parameters(original: Callable[..., Any]) -> list[str]:
    """``original``'s parameter names, read once per function (``inspect.signature`` costs
    about 60 µs, and a sweep wraps wandb's ``init`` for every run)."""
    try:
        return _parameter_names[original]
    except (KeyError, TypeError):
        pass
    try:
        parameters = list(inspect.signature(original).parameters)
    except (TypeError, ValueError):
        parameters = []
    with contextlib.suppress(TypeError):  # unhashable: read again next time
        _parameter_names[original] = parameters
    return parameters


def offline_init(
    original: Callable[..., Any],
    on_forced: Callable[[str], None],
    on_started: Callable[[Any], None] | None = None,
) -> Any:
    """``original`` (wandb's ``init``) with every asked-for mode that could send data made
    ``offline``; ``on_forced(asked)`` is called (before ``original``) each time that
    happens, ``asked`` being the mode the code asked for (``WANDB_MODE=<mode>`` when it came
    from the environment). ``on_started(run)``, if given, is called with ``None`` before
    ``original`` and with the run it returns after."""
    parameters = _parameters(original)

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
        disabled = "disabled" in (str(mode), str(settings_mode))
        if mode is None and settings_mode is None:
            environ = os.environ.get("WANDB_MODE") or None
            disabled = environ == "disabled"
            if not disabled:
                kwargs["mode"] = "offline"
            if environ is not None and environ not in KEPT_MODES:
                asked.append(_environment_mode(environ))
        for what in dict.fromkeys(asked):
            on_forced(what)
        if not disabled:
            _setup_offline()
        if on_started is None:
            return original(*args, **kwargs)
        on_started(None)
        run = original(*args, **kwargs)
        on_started(run)
        return run

    init.__localsweep_offline__ = True  # type: ignore[attr-defined]
    return init


def _environment_mode(environ: str) -> str:
    """What a call that asked for no mode, under ``WANDB_MODE=environ``, is told as: set by
    the training code, unless it is the value this process was started with (and no hold
    of localsweep's has set ``WANDB_MODE`` since)."""
    if environ == _STARTED_WITH_MODE and not _holds:
        return f"{_INHERITED}WANDB_MODE={environ}"
    return f"WANDB_MODE={environ}"


def _force_settings(init_settings: Any, process_mode: Any, on_forced: Any) -> None:
    """Make one ``wandb.init`` call's ``init_settings`` offline by :func:`offline_init`'s
    rules: an asked-for mode that could send data becomes ``offline``, a call that asks for
    none gets ``offline`` (unless ``WANDB_MODE`` or the process's settings say
    ``disabled``)."""
    fields = getattr(init_settings, "model_fields_set", None) or ()
    mode = getattr(init_settings, "mode", None) if "mode" in fields else None
    if mode is not None:
        if str(mode) in KEPT_MODES:
            if str(mode) != "disabled":
                _setup_offline()
            return
        init_settings.mode = "offline"
        on_forced(str(mode))
    else:
        environ = os.environ.get("WANDB_MODE") or None
        if "disabled" in (environ, str(process_mode)):
            return
        init_settings.mode = "offline"
        if environ is not None and environ not in KEPT_MODES:
            on_forced(_environment_mode(environ))
    _setup_offline()


def guard_init_settings(active: Callable[[], bool], on_forced: Callable[[str], None]) -> bool:
    """Make every ``wandb.init`` of this process offline while ``active()``, under whatever
    name it is called (see the module's docstring), ``on_forced(asked)`` being told what was
    asked. Guards added later come first; the first active one decides. Returns whether
    this wandb has the hook (wandb 0.31's ``_WandbInit.maybe_login``)."""
    try:
        from wandb.sdk import wandb_init

        cls: Any = wandb_init._WandbInit
        original = cls.maybe_login
    except Exception as exc:  # an older or newer wandb: the wrapped wandb.init still holds
        logger.debug("cannot guard wandb.init's settings: %r", exc)
        return False
    guards = getattr(original, "__localsweep_guards__", None)
    if guards is None:
        guards = []

        @functools.wraps(original)
        def maybe_login(self: Any, init_settings: Any, *args: Any, **kwargs: Any) -> Any:
            for is_active, forced in list(guards):
                if is_active():
                    try:
                        process_mode = self._wl.settings.mode
                    except Exception:
                        process_mode = None
                    _force_settings(init_settings, process_mode, forced)
                    break
            return original(self, init_settings, *args, **kwargs)

        maybe_login.__localsweep_guards__ = guards  # type: ignore[attr-defined]
        cls.maybe_login = maybe_login
    guards.insert(0, (active, on_forced))
    return True


# While at least one function-mode run is open (``_offline_hold.hold_offline`` ...
# ``release_offline``): what each hold's runs asked for goes to its on_forced. Kept here, as
# ``_environment_mode`` reads it; a program-mode child never holds.
_hold_lock = threading.Lock()
_holds: list[Callable[[str], None]] = []


def _setup_offline() -> None:
    """Make the process's wandb settings offline too, when they are not: wandb sends its
    own telemetry (``/sdk/otel/v1/metrics``) from them, whatever the run's mode, and
    ``wandb.login()`` checks the key with the server, in a process whose ``WANDB_MODE``
    the code set to ``online`` or cleared."""
    try:
        from wandb.sdk import wandb_setup

        setup = wandb_setup.singleton()
    except Exception as exc:  # an older or newer wandb: the run's own mode still holds
        logger.debug("cannot make wandb's settings offline: %r", exc)
        return
    try:
        settings = setup.settings
    except Exception as exc:
        # wandb began reading its settings and stopped (no home folder: HOME unset, and a
        # user ID without a passwd entry), keeping what it had: defaults, online, every
        # WANDB_* variable unread, which the next wandb.init would take and send wandb's
        # telemetry from. Forgotten, wandb.init reads them again and fails as it fails
        # without localsweep.
        logger.debug("cannot read wandb's settings: %r", exc)
        _forget_settings(setup)
        return
    try:
        if str(settings.mode) not in KEPT_MODES:
            settings.mode = "offline"
    except Exception as exc:  # an older or newer wandb: the run's own mode still holds
        logger.debug("cannot make wandb's settings offline: %r", exc)


def _forget_settings(setup: Any) -> None:
    """Drop the settings wandb's setup ``setup`` half read (see ``_setup_offline``)."""
    with contextlib.suppress(Exception):
        if getattr(setup, "_settings", None) is not None:
            setup._settings = None


def offline_login(original: Callable[..., Any]) -> Any:
    """``original`` (wandb's ``login``) run with the process's wandb settings offline
    (unless ``WANDB_MODE`` says ``disabled``): it then checks nothing with a server, as
    ``wandb.login()`` under ``WANDB_MODE=offline`` does."""

    @functools.wraps(original)
    def login(*args: Any, **kwargs: Any) -> Any:
        if os.environ.get("WANDB_MODE") != "disabled":
            _setup_offline()
        return original(*args, **kwargs)

    login.__localsweep_offline__ = True  # type: ignore[attr-defined]
    return login


_warned_lock = threading.Lock()
_warned: set[str] = set()


def warn_once(sweep_id: str, asked: str) -> None:
    """Log, once per sweep, that a run asked for ``mode=asked`` and ran offline."""
    with _warned_lock:
        if sweep_id in _warned:
            return
        _warned.add(sweep_id)
    inherited = asked.startswith(_INHERITED)
    variable, _, value = asked.removeprefix(_INHERITED).partition("=")
    if variable == "WANDB_MODE" and value and inherited:
        how = f"the environment localsweep was started with has WANDB_MODE={value!r}"
    elif variable == "WANDB_MODE" and value:
        how = f"the training code sets WANDB_MODE={value!r} before wandb.init"
    else:
        how = f"the training code calls wandb.init with mode={asked!r}"
    logger.warning(
        "%s; localsweep runs every run of sweep %s offline (nothing leaves the machine): "
        "`localsweep sync` uploads them later",
        how,
        sweep_id,
    )


def keep_child_offline(
    env: MutableMapping[str, str],
    note: str | os.PathLike[str],
    run_dir_note: str | os.PathLike[str] | None = None,
) -> None:
    """Make a program-mode child's ``wandb.init`` offline whatever mode it asks for: the
    boot folder first on its ``PYTHONPATH``, and where to note what it asked for (and, with
    ``run_dir_note``, where to note each call and the folder of the run it started)."""
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BOOT_DIR), env.get("PYTHONPATH", "")) if p)
    env[NOTE_VARIABLE] = os.fspath(note)
    if run_dir_note is not None:
        env[RUN_DIR_VARIABLE] = os.fspath(run_dir_note)


def reported_run_dirs(note: str | os.PathLike[str], run_id: str) -> tuple[bool, list[Path]]:
    """What a child's ``run_dir_note`` (see :func:`keep_child_offline`) says: whether any of
    its processes called ``wandb.init``, and the folders of its runs of id ``run_id``, in
    the order they were started."""
    try:
        lines = Path(note).read_text(encoding="utf-8").splitlines()
    except OSError:
        return False, []
    folders = []
    for line in lines:
        rid, tab, folder = line.partition("\t")
        if tab and rid == run_id and folder:
            folders.append(Path(folder))
    return bool(lines), list(dict.fromkeys(folders))


#: What wandb 0.31 prints on stderr when ``wandb.init`` starts an offline run (unless silent).
_OFFLINE_RUN_STARTED = "Run data is saved locally in"


def started_a_run(note: str | os.PathLike[str], stderr: str | os.PathLike[str]) -> bool:
    """Whether a child called ``wandb.init``: its ``run_dir_note`` says so, or its stderr
    has wandb's own line for a run started (from a process that did not load the note's
    hook: ``python -I``, or without the run's ``PYTHONPATH``)."""
    if reported_run_dirs(note, "")[0]:
        return True
    try:
        with open(stderr, encoding="utf-8", errors="replace") as f:
            return any(_OFFLINE_RUN_STARTED in line for line in f)
    except OSError:
        return False


def started_other_runs(note: str | os.PathLike[str], run_id: str) -> dict[str, Path]:
    """The runs other than ``run_id`` that a child's ``run_dir_note`` says its processes'
    ``wandb.init`` started (id: folder), in the order they were started."""
    try:
        lines = Path(note).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    others: dict[str, Path] = {}
    for line in lines:
        rid, tab, folder = line.partition("\t")
        if tab and rid and rid != run_id and folder:
            others.setdefault(rid, Path(folder))
    return others


def second_run_message(run_id: str) -> str:
    """The warning for a sweep run whose code started a second wandb run after its first
    finished (finished by the code, or by that second ``wandb.init()``: in a notebook or
    IPython, wandb's default ``reinit`` finishes the open run): wandb gives it the same run
    id (the sweep's) and a folder of its own, and W&B would take its rows over the first
    one's, not after them."""
    return (
        f"run {run_id}: wandb.init() was called again after this run's wandb run finished, "
        "or while it was open, which finished it (as wandb.init() does in a notebook or "
        "IPython, and with reinit='finish_previous'). localsweep records only the first "
        "wandb run of a sweep run: the rows of this one are not the run's, and stay in a "
        "second offline folder of the same id (localsweep sync uploads the run once that "
        "folder is moved away). Log the whole training in one wandb run: one wandb.init(), "
        "finished once (wandb.init(reinit='return_previous') hands back the open run)"
    )


def missing_run_dir_message(
    run_id: str, where: str | os.PathLike[str], others: dict[str, Path] | None = None
) -> str:
    """The error of a run whose program called ``wandb.init`` but whose folder was found
    neither in its child's note nor under ``where`` (the agent's ``wandb`` folder);
    ``others``: the runs of other ids its ``wandb.init`` started instead (see
    :func:`started_other_runs`)."""
    if others:
        started = ", ".join(f"run {rid} in {os.fspath(folder)}" for rid, folder in others.items())
        # Under WANDB_SWEEP_ID wandb ignores id= (clear_run_path_if_sweep_or_launch): a run
        # of another id was started by a process without the sweep's variables.
        return (
            f"the program's wandb.init started {started}, not run {run_id}: WANDB_RUN_ID and "
            "WANDB_SWEEP_ID, which localsweep sets for the run, were not in the environment "
            "of the process that called it (the program removed the WANDB_* variables, or "
            "started that process with an environment without them). Keep them there (remove "
            "only the variables you mean to), so that wandb.init starts the sweep's run. "
            f"Run {run_id}'s metric, history and config could not be read"
        )
    return (
        f"the program called wandb.init, but the run's folder (offline-run-*-{run_id}) was "
        f"not found under {os.fspath(where)}: wandb.init(dir=...) or WANDB_DIR set by the "
        "program most likely put it elsewhere, from a process that did not tell localsweep "
        "where (started without the run's PYTHONPATH, or with python -S, -I or -E), or the "
        "run got another id. Its metric, history and config could not be read"
    )


def _read_note(note: str | os.PathLike[str]) -> list[str]:
    """The modes noted in ``note`` (which is removed), each once."""
    note = Path(note)
    try:
        asked = [line for line in note.read_text(encoding="utf-8").splitlines() if line]
    except OSError:
        return []
    note.unlink(missing_ok=True)
    return list(dict.fromkeys(asked))


def report_child(sweep_id: str, note: str | os.PathLike[str]) -> list[str]:
    """The modes a finished child asked for (from its note, which is removed), each warned
    about once per sweep."""
    asked = _read_note(note)
    for mode in asked:
        warn_once(sweep_id, mode)
    return asked


# What wandb 0.31 says when a run it was asked to start online cannot log in or reach the
# server: seen only when a process escaped the boot folder (see keep_child_offline), as
# every wandb.init in a process that loaded it is offline.
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
        "wandb tried to reach a W&B server from a process of this run that localsweep could "
        "not keep offline: one that did not load localsweep's sitecustomize, because it was "
        "started with python -S, -I or -E, or without the run's PYTHONPATH (a program that "
        "clears PYTHONPATH or builds its children's environment from scratch), and whose "
        'wandb went online: it asked for online mode (mode="online" or WANDB_MODE=online), '
        "or had no WANDB_MODE in a working directory without localsweep's wandb/settings. "
        "Keep PYTHONPATH in that process's environment, or make it offline yourself "
        '(WANDB_MODE=offline, mode=os.environ.get("WANDB_MODE")); `localsweep sync` uploads '
        "the runs afterwards"
    )

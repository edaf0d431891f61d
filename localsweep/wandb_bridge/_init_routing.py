"""Routing ``wandb.init`` while localsweep runs are open in this process: the
``early_stopping_*`` arguments of a run's ``wandb.init`` go to that run's sink, and the call
runs offline whatever mode it asks for (see :mod:`._forced_offline`)."""

from __future__ import annotations

import functools
import logging
import threading
from typing import TYPE_CHECKING, Any

from localsweep.wandb_bridge._forced_offline import offline_init, second_run_message, warn_once
from localsweep.wandb_bridge._offline_hold import hold_offline, release_offline
from localsweep.wandb_bridge._sink import EARLY_STOPPING_ARGUMENTS

if TYPE_CHECKING:
    from localsweep.wandb_bridge._sink import LogSink

# wandb.init is replaced while at least one of our runs is open (sessions on other threads
# may overlap): each call finds the sink of its thread's run, or of the only open run.
_init_lock = threading.Lock()
_init_sinks: dict[int, LogSink] = {}
_init_sweeps: dict[int, str] = {}
_wandb_init: Any = None
_our_init: Any = None
#: The open sessions whose wandb run has finished (by ``id`` of their sink): the run id.
_finished: dict[int, str] = {}
#: The thread that called ``wandb.init`` for each of our runs (by run id): the training's.
_run_threads: dict[str, int] = {}

logger = logging.getLogger(__name__)


def note_finished(sink: LogSink, run_id: str) -> None:
    """The wandb run of ``sink``'s session finished: a later ``wandb.init`` in the same
    session is not recorded (see :func:`_init_with_early_stopping`)."""
    if any(s is sink for s in _init_sinks.values()):
        _finished[id(sink)] = run_id


def in_run_thread(run_id: str) -> bool:
    """Whether this thread is the one that started run ``run_id`` (called ``wandb.init``
    for it), the training's own; true when that is not known."""
    owner = _run_threads.get(run_id)
    return owner is None or owner == threading.get_ident()


def forget_run_thread(run_id: str) -> None:
    """Run ``run_id``'s session ended: forget its thread."""
    _run_threads.pop(run_id, None)


def _open_init(sink: LogSink, sweep_id: str = "") -> None:
    """Route ``wandb.init``'s early-stopping arguments on this thread to ``sink``, and keep
    this thread's runs offline (see :mod:`._forced_offline`)."""
    global _wandb_init, _our_init
    import wandb

    with _init_lock:
        if not _init_sinks:  # and the processes the runs start, until the last run ends
            hold_offline(_warn_online)
        if not _init_sinks or wandb.init is not _our_init:
            _wandb_init = wandb.init
            _our_init = _init_with_early_stopping(_wandb_init)
            wandb.init = _our_init
        _init_sinks[threading.get_ident()] = sink
        _init_sweeps[threading.get_ident()] = sweep_id


def _close_init() -> None:
    """Undo :func:`_open_init` for this thread; the last run out puts wandb's back."""
    global _wandb_init, _our_init
    import wandb

    with _init_lock:
        sink = _init_sinks.pop(threading.get_ident(), None)
        _finished.pop(id(sink), None)
        sweep_id = _init_sweeps.pop(threading.get_ident(), None)
        if _init_sinks:
            return
        release_offline(functools.partial(warn_once, sweep_id or "?"))
        if _our_init is not None and wandb.init is _our_init:
            wandb.init = _wandb_init
        _wandb_init = _our_init = None


def _warn_online(asked: str) -> None:
    """One warning per sweep that a run asked for ``mode=asked`` and runs offline."""
    sweep_id = _init_sweeps.get(threading.get_ident())
    if sweep_id is None and len(_init_sweeps) == 1:
        sweep_id = next(iter(_init_sweeps.values()), None)
    warn_once(sweep_id or "?", asked)


def _warn_second_run(sink: LogSink) -> None:
    """Say, once, that ``sink``'s run starts a second wandb run after its first finished:
    wandb gives it the same run id (from the sweep's settings) and a folder of its own, and
    W&B would take its rows over the first one's, not after them."""
    if (run_id := _finished.pop(id(sink), None)) is None:
        return
    logger.warning("%s", second_run_message(run_id))


def _init_with_early_stopping(original: Any) -> Any:
    """``wandb.init`` that hands the ``early_stopping_*`` arguments to the sink of the open
    run and calls wandb's own ``init`` without them (with them, when no run of ours is open
    here, so that wandb's own error stands), offline whatever mode the call asks for."""
    offline = offline_init(original, _warn_online)

    @functools.wraps(original)
    def init(*args: Any, **kwargs: Any) -> Any:
        sink = _init_sinks.get(threading.get_ident())
        if sink is None and len(_init_sinks) == 1:
            sink = next(iter(_init_sinks.values()), None)
        if sink is not None:
            arguments = {
                name: kwargs.pop(name) for name in EARLY_STOPPING_ARGUMENTS if name in kwargs
            }
            if arguments:
                sink.on_early_stopping(arguments)
            _warn_second_run(sink)  # its first wandb run finished earlier
            run = offline(*args, **kwargs)
            _warn_second_run(sink)  # this call finished it (reinit="finish_previous")
            if getattr(run, "id", None):
                _run_threads[run.id] = threading.get_ident()
            return run
        return original(*args, **kwargs)

    return init

"""Whether a ``train(config)`` function calls ``wandb.init`` itself (its run is then outside
the sweep), and that such a run is offline too whatever mode it asks for."""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any

from localsweep.wandb_bridge._forced_offline import offline_init, warn_once
from localsweep.wandb_bridge._offline_hold import hold_offline, release_offline

__all__ = ["InitWatch"]


_watch_lock = threading.Lock()
_watchers = 0
_watched: tuple[Any, Any] | None = None  # (the wandb module, its own init)
_this_thread = threading.local()


def _warn_watched(asked: str) -> None:
    watch = getattr(_this_thread, "watch", None)
    warn_once(getattr(watch, "sweep_id", "") or "?", asked)


#: The watching ``init`` made for each ``wandb.init`` seen (one, unless the code replaced
#: it): made once, as a sweep watches every run of a ``train(config)``.
_watching_inits: dict[Any, Any] = {}


def _watching(original: Any) -> Any:
    """``original`` (wandb's ``init``) that notes a call on a watched thread, and makes such
    a call's run offline (it is outside the sweep, but still a process's run of it)."""
    try:
        return _watching_inits[original]
    except (KeyError, TypeError):
        pass
    offline = offline_init(original, _warn_watched)

    @functools.wraps(original)
    def _watched_init(*args: Any, **kwargs: Any) -> Any:
        watch = getattr(_this_thread, "watch", None)
        if watch is not None:
            watch.called = True
            return offline(*args, **kwargs)
        return original(*args, **kwargs)

    with contextlib.suppress(TypeError):
        _watching_inits[original] = _watched_init
    return _watched_init


class InitWatch:
    """Whether ``wandb.init`` was called on this thread while the watch was on: a
    ``train(config)`` function gets no wandb run of the sweep, so an init of its own starts
    a run outside it, whose logged values the sweep never sees (offline all the same, whatever
    mode it asks for). Only watched when wandb is
    imported already (a quick objective without wandb pays nothing). ``wandb.init`` is
    wrapped while any thread watches (workers run functions side by side) and put back
    when the last watch ends."""

    def __init__(self, sweep_id: str = "") -> None:
        self.called = False
        self.sweep_id = sweep_id
        self._on = False

    def __enter__(self) -> InitWatch:
        global _watchers, _watched
        import sys

        with _watch_lock:
            if _watchers == 0:
                # The processes the function starts stay offline too (rule: nothing leaves
                # the machine from any process a run starts), wandb imported or not.
                hold_offline(_warn_watched)
            _watchers += 1
        self._on = True
        _this_thread.watch = self
        module = sys.modules.get("wandb")
        if module is None or getattr(module, "init", None) is None:
            return self
        with _watch_lock:
            if _watched is None:
                original = module.init
                _watched = (module, original)
                setattr(module, "init", _watching(original))  # noqa: B010 (wandb's stubs lack init)
        return self

    def __exit__(self, *exc: object) -> None:
        global _watchers, _watched
        if not self._on:
            return
        self._on = False
        _this_thread.watch = None
        with _watch_lock:
            _watchers -= 1
            if _watchers > 0:
                return
            if _watched is not None:
                module, original = _watched
                setattr(module, "init", original)  # noqa: B010
                _watched = None
            release_offline(functools.partial(warn_once, self.sweep_id or "?"))

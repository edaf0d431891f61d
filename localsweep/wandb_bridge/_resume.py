"""A resumed (preempted) run's ``wandb.init`` resumes it offline as W&B resumes it online.

Online, ``wandb.init(resume="allow")`` of a run the server has gets back the run's last
step and a flag: ``run.resumed`` is ``True`` and ``_step`` goes on one past the run's last
step (``run.starting_step``), so wandb's resume recipe (``if run.resumed: load the
checkpoint``) works. Offline, wandb 0.31 has no server to ask: ``run.resumed`` stays
``False`` and ``_step`` starts at 0 again. localsweep knows both from its store, and hands
them to the run the way the server's answer reaches it: wandb 0.31 sends the run's
``starting_step`` and ``resumed`` to its core with the Run record (``deliver_run``), whose
offline answer carries them back to ``run.starting_step``, the step counter and
``run.resumed``. ``Run._set_backend`` is called right before that, once per run, so it is
wrapped to set both on the run that is being resumed: the run of that id whose
``resume`` setting is ``allow``, ``must`` or ``auto`` (a run whose code overrode ``resume``
is not resumed, as online).

Two more things a resumed run has online, before ``wandb.init`` returns:

- ``run.step`` is the step it goes on from. wandb 0.31 asks its core for it, and the core
  starts its step counter from the run's ``starting_step`` only at the run's first partial
  history; so the resumed run sends one, empty and not committed (no row, no ``_step``
  spent), as the run starts;
- ``run.summary`` holds what the earlier attempts left (online ``_set_run_obj`` updates it
  from the server's). The run's summary is updated with it as the run starts: summary
  records in the run file, no row. A program-mode child gets it as JSON in
  ``LOCALSWEEP_RESUME_SUMMARY``.

This module imports the standard library only (wandb only once a run starts): a
program-mode child loads it by file path from ``_boot/sitecustomize.py``, where the step
comes in ``LOCALSWEEP_RESUME_STEP`` beside ``WANDB_RUN_ID``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["RESUME_STEP_VARIABLE", "RESUME_SUMMARY_VARIABLE", "resuming_set_backend"]

logger = logging.getLogger(__name__)

#: The ``_step`` a program-mode child's resumed run goes on from.
RESUME_STEP_VARIABLE = "LOCALSWEEP_RESUME_STEP"
#: A resumed program-mode child's earlier summary, as JSON (beside the step).
RESUME_SUMMARY_VARIABLE = "LOCALSWEEP_RESUME_SUMMARY"

_RESUMING = ("allow", "must", "auto")


def resuming_set_backend(
    original: Any,
    resume_step: Callable[[str], int | None],
    resume_summary: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> Any:
    """``Run._set_backend`` that first marks the run resumed, going on from
    ``resume_step(run_id)`` (``None``: a run that is not being resumed), its summary
    holding ``resume_summary(run_id)`` once it starts."""

    @functools.wraps(original)
    def _set_backend(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            settings = self._settings
            step = resume_step(settings.run_id) if settings.run_id else None
            if step is not None and str(settings.resume or "") in _RESUMING:
                self._starting_step = step
                self._settings.resumed = True
                summary = resume_summary(settings.run_id) if resume_summary else None
                # This run only (its own attribute): wandb.init calls run._on_start().
                self._on_start = _resumed_start(self, self._on_start, summary or {})
        except Exception:  # never break the user's wandb.init
            logger.debug("could not mark the run resumed", exc_info=True)
        return original(self, *args, **kwargs)

    _set_backend.__localsweep_resume__ = True  # type: ignore[attr-defined]
    return _set_backend


def _resumed_start(run: Any, on_start: Callable[[], None], summary: Mapping[str, Any]) -> Any:
    """``run._on_start`` that then gives the resumed run its step and earlier summary."""

    @functools.wraps(on_start)
    def _on_start() -> None:
        on_start()
        try:
            from wandb.proto import wandb_internal_pb2

            # Not committed and empty: the core starts its step counter at the run's
            # starting_step, writes no row, and the run's first log is still that step.
            request = wandb_internal_pb2.PartialHistoryRequest()  # type: ignore[attr-defined]
            request.action.flush = False
            run._interface._publish_partial_history(request)
            earlier = {k: v for k, v in summary.items() if k != "_wandb"}
            if earlier:
                run.summary.update(earlier)
        except Exception:  # the run goes on as offline wandb starts it
            logger.debug("could not give the resumed run its step and summary", exc_info=True)

    return _on_start

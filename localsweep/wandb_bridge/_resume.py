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

This module uses the standard library only: a program-mode child loads it by file path from
``_boot/sitecustomize.py``, where the step comes in ``LOCALSWEEP_RESUME_STEP`` beside
``WANDB_RUN_ID``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["RESUME_STEP_VARIABLE", "resuming_set_backend"]

logger = logging.getLogger(__name__)

#: The ``_step`` a program-mode child's resumed run goes on from.
RESUME_STEP_VARIABLE = "LOCALSWEEP_RESUME_STEP"

_RESUMING = ("allow", "must", "auto")


def resuming_set_backend(original: Any, resume_step: Callable[[str], int | None]) -> Any:
    """``Run._set_backend`` that first marks the run resumed, going on from
    ``resume_step(run_id)`` (``None``: a run that is not being resumed)."""

    @functools.wraps(original)
    def _set_backend(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            settings = self._settings
            step = resume_step(settings.run_id) if settings.run_id else None
            if step is not None and str(settings.resume or "") in _RESUMING:
                self._starting_step = step
                self._settings.resumed = True
        except Exception:  # never break the user's wandb.init
            logger.debug("could not mark the run resumed", exc_info=True)
        return original(self, *args, **kwargs)

    _set_backend.__localsweep_resume__ = True  # type: ignore[attr-defined]
    return _set_backend

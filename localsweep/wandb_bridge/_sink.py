"""What the bridge hands the agent of one in-process wandb run: the sink that receives what
the run logs, what it learned as the run finished, and the exception that stops a run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from localsweep.wandb_bridge._metric_summary import MetricDefinition

#: The ``wandb.init`` arguments a localsweep run accepts on top of wandb's own (the user's
#: guide writes the first two); they are removed before wandb sees the call.
EARLY_STOPPING_ARGUMENTS = (
    "early_stopping_metric",
    "early_stopping_threshold",
    "early_stopping_patience",
    "early_stopping_goal",
)


class LogSink(Protocol):
    """Receives what one wandb run logs. Called on the thread that logged."""

    def on_log(self, data: Mapping[str, Any], step: int, committed: bool = False) -> None:
        """A call of ``wandb.log`` / ``run.log``; ``step`` is the row it lands in, and
        ``committed`` whether the call committed that row (else it stays open for more
        keys: ``step=``, ``commit=False``). May raise to unwind the user's code (early
        termination)."""

    def on_finish(self, finished: FinishedRun) -> None:
        """The run is finishing (called before wandb writes its exit record)."""

    def on_preempting(self) -> None:
        """The run called ``mark_preempting()`` (it expects to be stopped and resumed)."""

    def on_early_stopping(self, arguments: Mapping[str, Any]) -> None:
        """``wandb.init`` was called with these ``early_stopping_*`` arguments (by name),
        before wandb's own ``init`` runs. May raise (a bad value) to fail that call."""

    def on_define_metric(self, definition: MetricDefinition) -> None:
        """The run called ``define_metric`` (by name or glob)."""

    def on_summary(
        self, updates: Mapping[tuple[str, ...], Any], removed: Iterable[tuple[str, ...]]
    ) -> None:
        """The run's code set summary values by hand (``run.summary[...] = ...``, by path)
        or removed them (``del run.summary[...]``)."""


@dataclass(frozen=True)
class FinishedRun:
    """What the bridge learned of a wandb run as it finished."""

    #: The run's summary when it differs from its last logged values (else empty: the
    #: agent stores the last logged values, and ``Run.summary`` reads wandb's own
    #: ``_runtime`` and ``_timestamp`` from the run's file: see ``_summary_tail``).
    summary: Mapping[str, Any]
    #: The exit code the run was finished with (``run.finish(exit_code=...)``), which
    #: wandb writes in its exit record; ``None`` when none was given.
    exit_code: int | None
    #: The offline run folder (``wandb/offline-run-<time>-<id>``).
    dir: str | None
    name: str | None
    #: Whether localsweep finished the run as it stopped it (a :class:`StopRun` from the
    #: sink: hyperband, a plateau, the agent), rather than the training code finishing it.
    stopped: bool = False
    #: Whether wandb printed an exception's traceback as the run ended (leaving
    #: ``with wandb.init()`` with an exception does), so that it need not be said again.
    traceback_printed: bool = False
    #: Whether ``summary`` is already the whole run's, over a resumed run's earlier
    #: attempts too (a recorder in the run's own process made it).
    merged: bool = False


class StopRun(BaseException):
    """Raised from a sink to end the user's run early.

    A ``BaseException``, so that ``except Exception:`` in training code does not
    swallow it; the hook finishes the wandb run (with ``exit_code``) before it unwinds.
    """

    exit_code = 1

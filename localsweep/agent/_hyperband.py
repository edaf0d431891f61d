"""Hyperband wired to the store for one sweep: what a run's recorder asks at each band."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from localsweep.config import SweepConfig
from localsweep.records import RunView
from localsweep.store import Store

__all__ = ["HyperbandStopper", "make_stopper"]


@dataclass
class HyperbandStopper:
    """Hyperband for one sweep, asked by a run's recorder at band boundaries."""

    config: SweepConfig
    store: Store
    sweep_id: str
    is_boundary: Callable[[int], bool]
    #: The runs as last read; ended runs are not read again (their history is final).
    _known: dict[str, RunView] = field(default_factory=dict)

    def for_run(self, run_id: str) -> Callable[[tuple[float, ...], int], int | None]:
        from localsweep.stopping import hyperband_stops

        hb = self.config.early_terminate
        metric = self.config.metric
        assert hb is not None and metric is not None

        def should_stop(history: tuple[float, ...], _step: int) -> int | None:
            views = self.store.metric_views(self.sweep_id, self._known)
            self._known = {v.id: v for v in views}
            views = [replace(v, history=history) if v.id == run_id else v for v in views]
            own: int | None = None
            others = []
            for decision in hyperband_stops(hb, metric.goal, views):
                if decision.run_id == run_id:
                    own = decision.band
                else:
                    others.append((decision.run_id, decision.band))
            # wandb's controller judges every running run each time; the other runs hear of
            # their stop at their next flush.
            self.store.request_stops(others)
            return own

        return should_stop


def make_stopper(config: SweepConfig, store: Store, sweep_id: str) -> HyperbandStopper | None:
    if config.early_terminate is None or config.metric is None:
        return None
    from localsweep.stopping import is_band_boundary

    hb = config.early_terminate
    return HyperbandStopper(
        config, store, sweep_id, lambda iteration: is_band_boundary(hb, iteration)
    )

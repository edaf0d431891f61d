"""Per-run plateau stopping: a run stops itself once its metric stops improving.

The rule of Keras' and Lightning's ``EarlyStopping(min_delta, patience)``, applied to one
run's own values (hyperband, by contrast, compares runs with each other). Pure: values come
in one at a time, decisions go out; the agent does the stopping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from localsweep.config import EarlyStopping, Goal

__all__ = ["Plateau", "PlateauDecision", "plateau_stop"]


@dataclass(frozen=True)
class PlateauDecision:
    """A run stops: ``count`` values of the metric without an improvement of more than the
    threshold on ``best``, the last of them value number ``iteration`` (counting from 1)."""

    iteration: int
    best: float
    count: int


class Plateau:
    """The plateau rule for one run, fed the run's values of the metric in order.

    The first number sets the run's best value. Each later value *improves* when it beats
    the best by more than ``threshold`` (``value < best - threshold`` to minimize,
    ``value > best + threshold`` to maximize); it then becomes the best and the count of
    values without improvement restarts at 0. Any other value adds 1 to the count: a value
    that is better by ``threshold`` or less, a worse one, and NaN (a value that is no number
    never improves; infinities are numbers). When the count reaches ``patience``,
    :meth:`update` returns a decision: the run stops.

    >>> rule = Plateau(EarlyStopping("val_loss", threshold=0.01, patience=2))
    >>> [rule.update(v) for v in (1.0, 0.5, 0.495, 0.49)][-1]
    PlateauDecision(iteration=4, best=0.5, count=2)
    """

    def __init__(self, spec: EarlyStopping):
        self.spec = spec
        self._sign = -1.0 if spec.goal is Goal.MAXIMIZE else 1.0
        #: The best value so far (in the metric's own sign), ``None`` before the first.
        self.best: float | None = None
        #: Values in a row that did not improve on ``best``.
        self.count = 0
        #: Values seen.
        self.iteration = 0

    def update(self, value: float) -> PlateauDecision | None:
        """Take the run's next value of the metric; a decision when the run stops now."""
        self.iteration += 1
        if self._improves(value):
            self.best = value
            self.count = 0
            return None
        self.count += 1
        if self.count >= self.spec.patience:
            best = math.nan if self.best is None else self.best
            return PlateauDecision(iteration=self.iteration, best=best, count=self.count)
        return None

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        # In the minimizing sign: improve by more than the threshold.
        return self._sign * value < self._sign * self.best - self.spec.threshold


def plateau_stop(spec: EarlyStopping, values: Iterable[float]) -> PlateauDecision | None:
    """Where :class:`Plateau` stops a run that would log ``values``: the decision at the
    value that stops it, or ``None`` when the run goes to its end.

    >>> plateau_stop(EarlyStopping("loss", threshold=0.1, patience=1), [3.0, 2.0, 1.95, 1.0])
    PlateauDecision(iteration=3, best=2.0, count=1)
    """
    rule = Plateau(spec)
    for value in values:
        decision = rule.update(value)
        if decision is not None:
            return decision
    return None

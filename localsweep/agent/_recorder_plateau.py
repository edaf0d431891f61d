"""The plateau rule (``early_stopping``) as one run's recorder applies it: each row's value
of the rule's metric, one per row, and for a resumed run its earlier attempts' rows first,
so that a preempted run stops where the same run left alone would have stopped."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from localsweep._hints import keys_and_guess, logged_keys
from localsweep.agent._logged import MISSING, lookup, metric_value
from localsweep.agent._stops import RunStopped
from localsweep.config import EarlyStopping
from localsweep.stopping import Plateau, PlateauDecision

__all__ = ["RunPlateau"]

logger = logging.getLogger(__name__)

#: The sweeps whose never-logged plateau metric was warned about (once per sweep).
_warned: set[str] = set()


class RunPlateau:
    """One run's plateau rule, if any (``spec``: the config's; :meth:`replace` puts
    ``wandb.init``'s in its place).

    :meth:`check` takes a logged row and raises :class:`RunStopped` at the value that
    reaches the plateau. A resumed run's earlier attempts' rows (:meth:`resume`) go through
    the rule before this attempt's, as hyperband judges the run and not the attempt; when
    they already reached the plateau (the deciding row was logged, then the run was
    preempted before it stopped), :meth:`stop_if_decided` raises the stop once."""

    def __init__(self, run_id: str, spec: EarlyStopping | None):
        self.run_id = run_id
        self._rule: Plateau | None = Plateau(spec) if spec is not None else None
        #: The row whose value the rule has seen (one value per row, as hyperband).
        self._step = -1
        #: The earlier attempts' rows, for a rule ``wandb.init`` gives (kept until this
        #: attempt logs: a rule can only come before that).
        self._earlier: Sequence[Mapping[str, Any]] = ()
        #: The stop the earlier attempts' rows decided, not raised yet.
        self._decided: RunStopped | None = None
        #: Whether the rule got a value of its metric (this attempt's or an earlier one's).
        self._seen = False

    @property
    def spec(self) -> EarlyStopping | None:
        """The rule this run is under, if any."""
        return self._rule.spec if self._rule is not None else None

    def resume(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """A resumed run: its earlier attempts' rows, in order, come first."""
        self._earlier = rows
        self._replay()

    def replace(self, spec: EarlyStopping) -> None:
        """``wandb.init``'s rule, in place of the config's, from the run's first value."""
        if self._rule is not None and self._rule.spec != spec:
            logger.info("run %s: wandb.init's early stopping replaces the config's", self.run_id)
        self._rule = Plateau(spec)
        self._step = -1
        self._replay()

    def end(self) -> None:
        """The run has ended: no value stops it any more (a function's return value)."""
        self._rule = None
        self._decided = None

    def logging(self) -> None:
        """This attempt logs: the earlier rows are no longer needed."""
        self._earlier = ()

    def stop_if_decided(self) -> None:
        """Raise, once, the stop the earlier attempts' rows decided: the resumed run
        stops before it logs anything more."""
        decided, self._decided = self._decided, None
        if decided is not None:
            logger.info("%s (reached before the run was preempted)", decided)
            raise decided

    def check(self, data: Mapping[str, Any], step: int) -> None:
        """A logged call's keys for the row at ``step``: raises :class:`RunStopped` when
        its value of the metric (the row's first) reaches the plateau."""
        rule = self._rule
        if rule is None or step == self._step:
            return
        value = _value(data, rule)
        if value is None:
            return
        self._step = step
        self._seen = True
        decision = rule.update(value)
        if decision is not None:
            raise self._stopped(rule, decision)

    def warn_if_unseen(self, sweep_id: str, logged: Mapping[str, Any]) -> None:
        """At the run's end: warn, once per sweep, when the rule never got a value of its
        metric though the run logged (``logged``: its last values), naming the keys it
        logged and the closest: a misspelt metric leaves the rule on in name only."""
        rule = self._rule
        if rule is None or self._seen or sweep_id in _warned:
            return
        keys = logged_keys(logged)
        if not keys:  # nothing logged here (a run's process records it)
            return
        _warned.add(sweep_id)
        metric = rule.spec.metric
        shown, close = keys_and_guess(metric, keys)
        logger.warning(
            "the early-stopping metric %r was never logged as a number by run %s, so its "
            "plateau rule stopped nothing; logged keys: %s.%s Fix early_stopping_metric in "
            "wandb.init or localsweep.early_stopping.metric in the config, or the key the "
            "code logs",
            metric,
            self.run_id,
            shown,
            f" Did you mean {close!r}?" if close else "",
        )

    def _replay(self) -> None:
        self._decided = None
        rule = self._rule
        if rule is None:
            return
        for row in self._earlier:
            value = _value(row, rule)
            if value is None:
                continue
            self._seen = True
            decision = rule.update(value)
            if decision is not None:
                # The run stopped here (or should have): later rows of the earlier
                # attempts are those a program logs before the stop reaches it.
                self._decided = self._stopped(rule, decision)
                return

    def _stopped(self, rule: Plateau, decision: PlateauDecision) -> RunStopped:
        spec = rule.spec
        return RunStopped(
            self.run_id,
            None,
            reason="plateau",
            detail=f"{spec.metric}: no improvement of more than {spec.threshold:g} on "
            f"{decision.best:g} in {decision.count} value(s)",
        )


def _value(data: Mapping[str, Any], rule: Plateau) -> float | None:
    """The row's value of the rule's metric; ``None`` when it has none (the key missing, or
    a bool, a string, an image: no value of the metric)."""
    raw = lookup(data, rule.spec.metric)
    return None if raw is MISSING else metric_value(raw)

"""``scheduler: {engine: optuna}``: load the user's code, and let the study's pruner stop runs.

``source`` is imported once per agent (relative to the config file the sweep was made
from, else to the working directory); ``optimizer()`` is called once per agent and its
study's sampler proposes (see :mod:`localsweep.search._custom`), its pruner judges runs.

A pruner judges a run each time it logs a finite value of the metric: the value is
reported to the run's trial at its wandb step, and when ``pruner.prune`` says so, the run
stops exactly as a run hyperband stops (:class:`RunStopped`: clean stop, state
``early_terminated``, rows kept), with ``end_reason`` ``pruned``. The study the pruner
sees holds every ended run with the values it logged at their steps, read from the store.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.pruners import BasePruner, NopPruner
from optuna.trial import TrialState, create_trial

from localsweep.agent._scheduler_source import _error, _source_path, _user_source, check_source
from localsweep.config import Method, SweepConfig
from localsweep.records import RunState
from localsweep.search import UserStudy
from localsweep.search._bayes import _quiet_study_creation
from localsweep.search._outcomes import directions, run_outcome
from localsweep.store import Store

__all__ = ["PrunerStopper", "check_source", "load_user_study", "run_stopper"]

logger = logging.getLogger(__name__)


def _import_source(source: str, base_dir: str | None) -> Any:
    path = _source_path(source, base_dir)
    name = f"localsweep_scheduler_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _error("scheduler.source", f"{str(path)!r} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    # The file's own imports of its neighbours work as they would under `python file.py`.
    sys.path.insert(0, str(path.parent))
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        raise _error(
            "scheduler.source", f"importing {str(path)!r} failed:\n{traceback.format_exc()}"
        ) from exc
    finally:
        sys.path.remove(str(path.parent))
    return module


def _function(module: Any, key: str, name: str) -> Callable[..., Any]:
    function = getattr(module, name, None)
    if not callable(function):
        raise _error(f"scheduler.{key}", f"{module.__file__} defines no function {name!r}")
    return function


def load_user_study(config: SweepConfig, base_dir: str | None) -> UserStudy | None:
    """The user's study and search space for a ``method: custom`` sweep that names any
    (``None`` otherwise: bayes's study then searches ``parameters``)."""
    source = _user_source(config)
    if source is None:
        return None
    scheduler = config.scheduler
    assert scheduler is not None
    module = _import_source(source, base_dir)
    sampler = pruner = None
    if scheduler.optimizer:
        build = _function(module, "optimizer", scheduler.optimizer)
        # The user's optuna.create_study() logs "A new study created in memory with name:
        # no-name-..." at INFO on stderr, in every agent and every child process: noise
        # about a study only its sampler and pruner are taken from.
        _quiet_study_creation()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study = build()
        except Exception as exc:
            raise _error(
                "scheduler.optimizer",
                f"{scheduler.optimizer}() raised:\n{traceback.format_exc()}",
            ) from exc
        if not isinstance(study, optuna.Study):
            raise _error(
                "scheduler.optimizer",
                f"{scheduler.optimizer}() must return an optuna.Study "
                f"(optuna.create_study(...)), not {type(study).__name__}",
            )
        wanted = directions(config.objectives)
        if list(study.directions) != wanted:
            goals = ", ".join(f"{m.name}: {m.goal.value}" for m in config.objectives)
            raise _error(
                "scheduler.optimizer",
                f"the study's directions {[d.name.lower() for d in study.directions]} do not "
                f"match the config's metrics ({goals}); create it with "
                f"directions={[d.name.lower() for d in wanted]}",
            )
        sampler, pruner = study.sampler, study.pruner
        if isinstance(pruner, NopPruner):
            pruner = None
        if pruner is not None and config.is_multi_objective:
            # optuna.create_study gives every study a MedianPruner(): only one the user
            # chose is worth a warning.
            chosen = not _default_pruner(pruner)
            (logger.warning if chosen else logger.info)(
                "the study's %s is not used: Optuna cannot prune multi-objective trials "
                "(the config has %d metrics), so its runs are not stopped early",
                type(pruner).__name__,
                len(config.objectives),
            )
            pruner = None
    space = (
        _function(module, "search_space", scheduler.search_space)
        if (scheduler.search_space)
        else None
    )
    return UserStudy(sampler=sampler, pruner=pruner, search_space=space)


@dataclass
class PrunerStopper:
    """The study's pruner as the sweep's early termination, with hyperband's interface
    (``is_boundary``, ``for_run``) so that every runner stops a pruned run the same way."""

    config: SweepConfig
    store: Store
    sweep_id: str
    pruner: BasePruner
    end_reason: str = "pruned"
    _study: optuna.Study | None = None
    _trials: dict[str, int] = field(default_factory=dict)
    _ended: set[str] = field(default_factory=set)
    _reported: dict[str, set[int]] = field(default_factory=dict)
    _last_row: dict[str, int] = field(default_factory=dict)
    #: The runs as last read; ended runs are not read again (their history is final).
    _known: dict[str, Any] = field(default_factory=dict)

    def is_boundary(self, iteration: int) -> bool:
        """Every logged value is judged."""
        return True

    def _ensure_study(self) -> optuna.Study:
        if self._study is None:
            _quiet_study_creation()
            storage = optuna.storages.InMemoryStorage()
            storage.create_new_study(directions(self.config.objectives), "localsweep-pruner")
            self._study = optuna.Study(
                study_name="localsweep-pruner", storage=storage, pruner=self.pruner
            )
        return self._study

    def _refresh(self, study: optuna.Study) -> None:
        """Add the runs that ended since the last look, with their values at their steps."""
        from localsweep.store._steps import metric_steps

        metric = self.config.metric
        assert metric is not None
        views = self.store.metric_views(self.sweep_id, self._known)
        self._known = {v.id: v for v in views}
        ended = [v for v in views if v.state is not RunState.RUNNING and v.id not in self._ended]
        if not ended:
            return
        steps = metric_steps(self.store, [v.id for v in ended])
        storage = study._storage
        for view in ended:
            self._ended.add(view.id)
            outcome = run_outcome(view, metric)
            if outcome.state is TrialState.RUNNING:
                continue
            values = {step: v for _row, step, v in steps.get(view.id, ()) if math.isfinite(v)}
            if view.id in self._trials:  # one of ours, judged while it ran
                storage.set_trial_state_values(self._trials[view.id], outcome.state, outcome.told)
                continue
            storage.create_new_trial(
                study._study_id,
                template_trial=create_trial(
                    state=outcome.state,
                    values=outcome.told,
                    intermediate_values=values or None,
                ),
            )

    def for_run(self, run_id: str) -> Callable[[tuple[float, ...], int], int | None]:
        """The judge of one run: reports its new values, returns the step to stop at.
        ``history``'s last value is that of the row at ``step``, which may still be open
        (not in the store yet)."""
        from localsweep.store._steps import metric_steps

        def should_stop(history: tuple[float, ...], step: int) -> int | None:
            study = self._ensure_study()
            self._refresh(study)
            storage = study._storage
            trial_id = self._trials.get(run_id)
            if trial_id is None:
                trial_id = storage.create_new_trial(study._study_id)
                self._trials[run_id] = trial_id
            reported = self._reported.setdefault(run_id, set())
            rows = metric_steps(self.store, [run_id], self._last_row.get(run_id, 0))
            last_step = None
            for row_id, row_step, value in rows.get(run_id, ()):
                self._last_row[run_id] = row_id
                # A step already reported is skipped, as Optuna ignores repeats.
                if math.isfinite(value) and row_step not in reported:
                    storage.set_trial_intermediate_value(trial_id, row_step, value)
                    reported.add(row_step)
                    last_step = row_step
            # The row judged now may still be open, so not in the store yet.
            if history and math.isfinite(history[-1]) and step not in reported:
                storage.set_trial_intermediate_value(trial_id, step, history[-1])
                reported.add(step)
                last_step = step
            if last_step is None:
                return None
            if self.pruner.prune(study, storage.get_trial(trial_id)):
                logger.info(
                    "run %s pruned at step %d by %s", run_id, last_step, type(self.pruner).__name__
                )
                return last_step
            return None

        return should_stop


def run_stopper(config: SweepConfig, store: Store, sweep_id: str, config_dir: str | None) -> Any:
    """The early termination of a run executed in a child process (``isolation="process"``,
    function workers): the study's pruner when the sweep's ``optimizer`` has one (the child
    calls it once for its run: a pruner cannot cross processes), else hyperband's."""
    from localsweep.agent._hyperband import make_stopper

    scheduler = config.scheduler
    if config.method is Method.CUSTOM and scheduler is not None and scheduler.optimizer:
        user = load_user_study(config, config_dir)
        if user is not None and user.pruner is not None:
            return PrunerStopper(config, store, sweep_id, user.pruner)
    return make_stopper(config, store, sweep_id)


def _default_pruner(pruner: Any) -> bool:
    """Whether ``pruner`` is the ``MedianPruner()`` ``optuna.create_study`` gives a study
    that names none."""
    from optuna.pruners import MedianPruner

    return type(pruner) is MedianPruner and vars(pruner) == vars(MedianPruner())

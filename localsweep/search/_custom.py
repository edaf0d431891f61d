"""``method: custom`` with ``scheduler: {engine: optuna}``: the user's own Optuna study.

The user's ``optimizer`` (a zero-argument function returning a study) gives the sampler
and the pruner; the user's ``search_space`` (a define-by-run function taking an
``optuna.Trial`` and returning the run's config) gives the space; without it the space
comes from ``parameters`` with bayes's mapping (docs/bayes.md). Loading that code is the
agent's job (it is I/O); this module only uses what it was handed.

As for bayes, the storage of record is localsweep's store: every run becomes a trial of
an in-memory study (its parameters, distributions and the sampler's system attributes,
kept with the run when it was proposed), updated in place as runs arrive and end, so any
agent on any machine proposes from every run. The sampler is the user's object; before
each proposal its random state is reseeded from the run's stream, so two agents whose
``optimizer`` builds a sampler with the same seed still propose different runs, and the
same runs and sweep seed give the same proposal.
"""

from __future__ import annotations

import logging
import os
import random
import traceback
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import distribution_to_json, json_to_distribution
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState, create_trial

from localsweep.config import ParamPath, SweepConfig
from localsweep.errors import ConfigError, Violation
from localsweep.records import Proposal, RunState, RunView
from localsweep.search._base import Search
from localsweep.search._bayes import _quiet_study_creation
from localsweep.search._bayes_space import SearchSpace
from localsweep.search._outcomes import RunOutcome, directions, outcome_of, tell_end

__all__ = ["CustomSearch", "UserStudy", "flatten_config", "reseed"]

log = logging.getLogger(__name__)

_STUDY_NAME = "localsweep-custom"
#: The key of ``Proposal.info`` (and so of the run's ``search_info``) holding its trial.
INFO_KEY = "optuna"


@dataclass(frozen=True)
class UserStudy:
    """What the agent loaded from ``scheduler.source``.

    ``sampler`` and ``pruner`` are the study's (``None``: Optuna's default for the
    directions, and no pruner); ``search_space`` is the define-by-run function, if any.
    """

    sampler: BaseSampler | None = None
    pruner: BasePruner | None = None
    search_space: Callable[[optuna.Trial], Any] | None = None


def reseed(sampler: Any, seed: int, _seen: set[int] | None = None) -> None:
    """Seed every random state ``sampler`` holds (its own and its inner samplers') from
    ``seed``, so that its proposals follow the run's stream instead of its own history."""
    seen = _seen if _seen is not None else set()
    if id(sampler) in seen:
        return
    seen.add(id(sampler))
    for name, value in vars(sampler).items():
        # crc32, not hash(): str hashes differ between processes.
        sub = seed ^ zlib.crc32(name.encode())
        if isinstance(value, np.random.RandomState):
            value.seed(sub % 2**32)
        elif type(value).__name__ == "LazyRandomState":
            value.rng.seed(sub % 2**32)
        elif isinstance(value, random.Random):
            value.seed(sub)
        elif isinstance(value, BaseSampler) or (
            hasattr(value, "__dict__") and hasattr(value, "_rng")
        ):
            reseed(value, sub, seen)


def flatten_config(config: Mapping[str, Any]) -> dict[ParamPath, Any]:
    """``{"opt": {"lr": 0.1}}`` as ``{("opt", "lr"): 0.1}``, the form proposals take; a
    nested dict is the run's nested config, as wandb delivers nested parameters."""
    flat: dict[ParamPath, Any] = {}

    def walk(node: Mapping[str, Any], prefix: ParamPath) -> None:
        for key, value in node.items():
            path = (*prefix, str(key))
            if isinstance(value, Mapping) and value:
                walk(value, path)
            else:
                flat[path] = value

    walk(config, ())
    return flat


def _json_safe(attrs: Mapping[str, Any]) -> dict[str, Any]:
    import json

    out = {}
    for key, value in attrs.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


@dataclass
class _Entry:
    run_id: str
    trial_id: int | None
    outcome: RunOutcome
    state: RunState


class CustomSearch(Search):
    """``engine: optuna``: the user's sampler proposes, over every run of the sweep.

    >>> from localsweep.config import parse_config
    >>> cfg = parse_config({"method": "custom", "metric": {"name": "loss"},
    ...     "scheduler": {"engine": "optuna", "source": "s.py", "search_space": "space"}})
    >>> def space(trial):
    ...     return {"x": trial.suggest_float("x", 0, 1)}
    >>> p = CustomSearch(cfg, UserStudy(search_space=space)).propose([], random.Random(0))
    >>> 0 <= p.params[("x",)] <= 1
    True
    """

    def __init__(self, config: SweepConfig, user: UserStudy):
        super().__init__(config)
        self._metrics = config.objectives
        if not self._metrics:
            raise ConfigError([Violation("metric", "`method: custom` needs a metric")])
        self._user = user
        self._space = None if user.search_space else SearchSpace.from_config(config)
        if self._space is not None and not self._space.dimensions:
            raise ConfigError(
                [Violation("parameters", "needs at least one parameter that is not a constant")]
            )
        self.sampler: BaseSampler = user.sampler or _default_sampler(len(self._metrics))
        self.reason = f"the study's {type(self.sampler).__name__}" + (
            " over the search_space function" if user.search_space else " over `parameters`"
        )
        self._study = self._new_study()
        self._entries: list[_Entry] = []

    def _new_study(self) -> optuna.Study:
        _quiet_study_creation()
        storage = optuna.storages.InMemoryStorage()
        storage.create_new_study(directions(self._metrics), _STUDY_NAME)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.Study(
                study_name=_STUDY_NAME,
                storage=storage,
                sampler=self.sampler,
                pruner=optuna.pruners.NopPruner(),
            )

    @property
    def study(self) -> optuna.Study:
        """The in-memory study mirroring the sweep's runs (for tests and reports)."""
        return self._study

    def propose(self, runs: Sequence[RunView], rng: random.Random) -> Proposal:
        """Ask the user's sampler for the next run, after telling the study every run."""
        seed = rng.getrandbits(32)
        self._sync(runs)
        reseed(self.sampler, seed)
        study = self._study
        if self._space is not None:
            trial = study.ask(self._space.distributions)
            params = self._space.decode(dict(trial.params))
        else:
            trial = study.ask()
            assert self._user.search_space is not None
            try:
                returned = self._user.search_space(trial)
            except Exception as exc:  # the user's code: said as the config field it is
                raise ConfigError([Violation("scheduler.search_space", _raised(exc))]) from exc
            config = getattr(returned, "config", returned)
            if config is None:
                config = dict(trial.params)
            if not isinstance(config, Mapping):
                raise ConfigError(
                    [
                        Violation(
                            "scheduler.search_space",
                            f"must return the run's config as a dict (or an object with a "
                            f"`config` dict), not {type(config).__name__}",
                        )
                    ]
                )
            params = flatten_config(config)
        frozen = study._storage.get_trial(trial._trial_id)
        info = {
            "sampler": type(self.sampler).__name__,
            "seed": seed,
            INFO_KEY: {
                "params": dict(frozen.params),
                "distributions": {
                    k: distribution_to_json(d) for k, d in frozen.distributions.items()
                },
                "system_attrs": _json_safe(frozen.system_attrs),
            },
        }
        # The asked trial is a question; the run comes back as its own trial next time.
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        return Proposal(params=params, info=info)

    # ---------------------------------------------------------------------- the mirror

    def _sync(self, runs: Sequence[RunView]) -> None:
        if len(runs) < len(self._entries) or not self._update_known(runs):
            log.debug("rebuilding the custom study from %d runs", len(runs))
            self._study = self._new_study()
            self._entries = []
        for run in runs[len(self._entries) :]:
            template = self._template(run)
            trial_id = None
            if template is not None:
                trial_id = self._study._storage.create_new_trial(
                    self._study._study_id, template_trial=template
                )
            self._entries.append(
                _Entry(run.id, trial_id, outcome_of(run, self._metrics), run.state)
            )

    def _update_known(self, runs: Sequence[RunView]) -> bool:
        storage = self._study._storage
        for entry, run in zip(self._entries, runs, strict=False):
            if entry.run_id != run.id:
                return False
            if entry.state is run.state:
                continue
            outcome = outcome_of(run, self._metrics)
            if entry.outcome.state is not TrialState.RUNNING:
                if outcome != entry.outcome:
                    return False
            elif entry.trial_id is not None and outcome.state is not TrialState.RUNNING:
                tell_end(storage, entry.trial_id, outcome)
            entry.outcome = outcome
            entry.state = run.state
        return True

    def _template(self, run: RunView) -> FrozenTrial | None:
        kept = run.search_info.get(INFO_KEY)
        if not isinstance(kept, Mapping):
            return None
        try:
            dists = {k: json_to_distribution(v) for k, v in kept["distributions"].items()}
            params = dict(kept["params"])
            outcome = outcome_of(run, self._metrics)
            return create_trial(
                state=outcome.state,
                values=outcome.told,
                params=params,
                distributions=dists,
                intermediate_values=dict(outcome.intermediate) or None,
                system_attrs=dict(kept.get("system_attrs") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("run %s: its trial cannot be rebuilt (%s); not used", run.id, exc)
            return None


def _default_sampler(n_objectives: int) -> BaseSampler:
    # What optuna.create_study picks when given no sampler.
    if n_objectives > 1:
        return optuna.samplers.NSGAIISampler()
    return optuna.samplers.TPESampler()


def _raised(exc: Exception) -> str:
    """What the user's ``search_space`` raised, and where in the user's code: the innermost
    frame outside Optuna (``trial.suggest_int`` naming a parameter a second time with
    another kind raises inside Optuna)."""
    inside = os.path.dirname(optuna.__file__) + os.sep
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(inside)
    ]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return (
        f"raised {type(exc).__name__}: {exc}{where} (the agent asked it for a run's "
        "parameters; fix the function, then start the agent again)"
    )

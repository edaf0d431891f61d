"""``method: bayes`` through Optuna's samplers.

wandb's own bayes fits a Gaussian process on every proposal; here the runs become
trials of an in-memory Optuna study and a sampler (Optuna's TPE or GP, or
localsweep's numpy GP when PyTorch is missing) picks the next
point. How each distribution maps, which value of a run counts and how the sampler is
chosen are written up in ``docs/bayes.md``.

The study is kept between calls and only new or changed runs are written into it, so a
proposal costs about what ``study.ask()`` costs; the answer is still the one a fresh
object would give for the same runs and random state.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.samplers import BaseSampler, TPESampler
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState, create_trial

from localsweep.config import Metric, SweepConfig
from localsweep.errors import ConfigError, Violation
from localsweep.records import Proposal, RunView
from localsweep.search._base import Search
from localsweep.search._bayes_space import SearchSpace
from localsweep.search._gp import NumpyGPSampler
from localsweep.search._outcomes import (
    RunOutcome,
    directions,
    impute,
    outcome_of,
    tell_end,
    worst_values,
)

__all__ = ["BayesSearch", "choose_sampler", "torch_available"]

log = logging.getLogger(__name__)

SAMPLERS = ("auto", "tpe", "gp", "gp-numpy")
_STUDY_NAME = "localsweep-bayes"

#: GP is chosen automatically only for spaces and budgets it handles well; see
#: ``choose_sampler`` and the benchmark figures in docs/bayes.md.
GP_MAX_DIMENSIONS = 8
GP_MAX_RUNS = 200


def torch_available() -> bool:
    """Whether PyTorch can be imported (Optuna's GPSampler needs it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or half-removed install
        return False


def choose_sampler(config: SweepConfig, space: SearchSpace) -> tuple[str, str]:
    """The sampler for ``config`` (``"tpe"``, ``"gp"`` or ``"gp-numpy"``) and a sentence
    saying why.

    ``localsweep: {sampler: ...}`` forces the choice: ``tpe``; ``gp``, a Gaussian
    process, Optuna's ``GPSampler`` when PyTorch is importable and localsweep's own
    numpy one (:class:`~localsweep.search._gp.NumpyGPSampler`) otherwise; ``gp-numpy``,
    always localsweep's. ``auto`` takes a GP only where it did better in
    benchmarks/quality.py: no early termination (the GPs learn nothing from pruned
    runs), at most ``GP_MAX_DIMENSIONS`` dimensions, no more categorical than numeric
    ones. As a GP's cost grows fast with the runs, a sweep that may run more than
    ``GP_MAX_RUNS`` (no ``run_cap``, or a larger one) takes the GP for its first
    ``GP_MAX_RUNS`` runs and TPE after (see :func:`tpe_after`). Otherwise TPE.

    The GP ``auto`` takes is localsweep's numpy one, PyTorch or not: it did better than
    Optuna's GPSampler on 6 of the 10 rows of benchmarks/quality.py (30 seeds), at a
    third of the time per proposal, and a sweep then proposes the same points on every
    machine (nodes with and without PyTorch sharing one sweep).
    """
    forced = config.options.sampler
    if config.is_multi_objective:
        # The GPs here model one objective; TPE models several (Optuna's MOTPE).
        return "tpe", f"TPE: {len(config.metrics)} objectives, which TPE models together"
    if forced not in SAMPLERS:
        raise ConfigError(
            [
                Violation(
                    "localsweep.sampler",
                    f"must be one of {', '.join(SAMPLERS)}, got {forced!r}",
                )
            ]
        )
    if forced == "tpe":
        return "tpe", "TPE, as the config asks (localsweep.sampler: tpe)"
    if forced == "gp-numpy":
        return "gp-numpy", (
            "localsweep's numpy GP, as the config asks (localsweep.sampler: gp-numpy)"
        )
    if forced == "gp":
        return _gp_kind(), (
            "GP, as the config asks (localsweep.sampler: gp): " + _gp_which(torch_available())
        )
    n_dims = len(space.dimensions)
    n_cat = sum(d.is_categorical for d in space.dimensions)
    if config.early_terminate is not None:
        return "tpe", "TPE: with early termination, TPE learns from stopped runs and GP cannot"
    if n_dims > GP_MAX_DIMENSIONS:
        return "tpe", f"TPE: {n_dims} dimensions, more than GP handles well ({GP_MAX_DIMENSIONS})"
    if 2 * n_cat > n_dims:
        return "tpe", f"TPE: {n_cat} of {n_dims} parameters are categorical"
    if tpe_after(config) is not None:
        return "gp-numpy", (
            f"GP for the first {GP_MAX_RUNS} runs, then TPE (a GP's cost grows fast with the "
            f"runs, and run_cap is {config.run_cap}): {n_dims} mostly numeric dimensions; "
            "localsweep's numpy GP"
        )
    return "gp-numpy", (
        f"GP: {n_dims} mostly numeric dimensions and run_cap {config.run_cap}; "
        "localsweep's numpy GP"
    )


def tpe_after(config: SweepConfig) -> int | None:
    """The run count from which an ``auto`` GP sweep hands over to TPE, or ``None`` when
    the sweep cannot outgrow the GP (its ``run_cap`` is at most ``GP_MAX_RUNS``)."""
    if config.options.sampler != "auto":
        return None
    if config.run_cap is not None and config.run_cap <= GP_MAX_RUNS:
        return None
    return GP_MAX_RUNS


def _gp_kind() -> str:
    return "gp" if torch_available() else "gp-numpy"


def _gp_which(has_torch: bool) -> str:
    if has_torch:
        return "Optuna's GPSampler (PyTorch is installed)"
    return "localsweep's numpy GP (PyTorch, which Optuna's GPSampler needs, is not installed)"


def _make_sampler(name: str, seed: int) -> BaseSampler:
    with warnings.catch_warnings():
        # Optuna flags some arguments as experimental; that is for its users, not ours.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if name == "gp-numpy":
            return NumpyGPSampler(seed=seed)
        return TPESampler(multivariate=True, constant_liar=True, seed=seed)


# Where each sampler keeps the IntersectionSearchSpace it asks for the relative search
# space. Recomputed from nothing, that space costs a pass over every trial on every
# proposal (most of a proposal's time at 1,000 runs); kept with the study it reads only
# the trials added or still unfinished since the last call. Private names of Optuna's
# (and of NumpyGPSampler): if one is gone, proposals stay right and only get slower.
_SEARCH_SPACE_ATTR = {
    "tpe": "_search_space",
    "gp": "_intersection_search_space",
    "gp-numpy": "_space",
}


class _DropStudyCreated(logging.Filter):
    """Drops Optuna's "A new study created in memory" line.

    Optuna prints it through a handler of its own, so a library user would see it for
    every sweep an agent opens; the study is an implementation detail here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("A new study created in memory")


def _quiet_study_creation() -> None:
    logger = logging.getLogger("optuna.storages._in_memory")
    if not any(isinstance(f, _DropStudyCreated) for f in logger.filters):
        logger.addFilter(_DropStudyCreated())


@dataclass
class _Entry:
    """What the cached study holds for one run: its trial id (``None`` when the run's
    params do not fit the space), what it told the sampler, and a cheap fingerprint
    that changes whenever the run does."""

    run_id: str
    trial_id: int | None
    #: What the study was told (an imputable failure imputed; see :func:`impute`).
    outcome: RunOutcome
    fingerprint: tuple[Any, ...]
    #: The run's own outcome, before imputation.
    raw: RunOutcome


def _fingerprint(run: RunView) -> tuple[Any, ...]:
    # History only grows, so its length and last value stand for all of it.
    last = run.history[-1] if run.history else None
    return (run.state, len(run.history), last, run.summary)


class _StudyCache:
    """An in-memory study mirroring the runs, updated in place as runs arrive and end.

    Trials sit in run order, as a fresh study would hold them. A running run's trial
    is moved to its final state when the run ends, which is the one change Optuna
    allows; anything else (a run gone, reordered, or changed after it ended) rebuilds
    the study. Each proposal leaves a failed trial behind: the samplers skip failed
    trials, so these change nothing but trial numbers, whose order they keep.
    """

    def __init__(self, space: SearchSpace, metrics: Sequence[Metric]):
        self._space = space
        self._metrics = tuple(metrics)
        self._directions = directions(metrics)
        self._study = self._new_study()
        self._entries: list[_Entry] = []
        self._search_spaces: dict[str, IntersectionSearchSpace] = {}

    def _new_study(self) -> optuna.Study:
        _quiet_study_creation()
        storage = optuna.storages.InMemoryStorage()
        storage.create_new_study(self._directions, _STUDY_NAME)
        return optuna.Study(study_name=_STUDY_NAME, storage=storage)

    @property
    def study(self) -> optuna.Study:
        return self._study

    def sync(self, runs: Sequence[RunView]) -> None:
        """Bring the study in line with ``runs`` (all runs of the sweep, in creation order).

        Failed runs are told imputed values (see :func:`impute`); when the worst value
        they are imputed from changes, the study is rebuilt (the worst only gets worse,
        so that happens a few times in a sweep)."""
        fingerprints = [_fingerprint(r) for r in runs]
        raws = self._raw_outcomes(runs, fingerprints)
        worst = worst_values(raws, self._metrics)
        told = [impute(r, worst, self._metrics) for r in raws]
        if len(runs) < len(self._entries) or not self._update_known(runs, fingerprints, raws, told):
            log.debug("rebuilding the bayes study from %d runs", len(runs))
            self._study = self._new_study()
            self._entries = []
            self._search_spaces = {}
        new = range(len(self._entries), len(runs))
        templates = [self._template(runs[i], told[i]) for i in new]
        first = len(self._study.get_trials(deepcopy=False))
        self._study.add_trials(t for t in templates if t is not None)
        added = iter(self._study.get_trials(deepcopy=False)[first:])
        for i, template in zip(new, templates, strict=True):
            trial_id = next(added)._trial_id if template is not None else None
            self._entries.append(_Entry(runs[i].id, trial_id, told[i], fingerprints[i], raws[i]))

    def _raw_outcomes(
        self, runs: Sequence[RunView], fingerprints: Sequence[tuple[Any, ...]]
    ) -> list[RunOutcome]:
        """Each run's own outcome, read again only for runs that changed."""
        out = []
        for i, run in enumerate(runs):
            entry = self._entries[i] if i < len(self._entries) else None
            same = entry is not None and entry.run_id == run.id
            if same and entry is not None and entry.fingerprint == fingerprints[i]:
                out.append(entry.raw)
            else:
                out.append(outcome_of(run, self._metrics))
        return out

    def lend_search_space(self, sampler: BaseSampler, sampler_name: str) -> None:
        """Give ``sampler`` this study's running intersection search space.

        The space is the intersection of the finished trials' distributions, which does
        not depend on the order the trials were read in, and the kept object rereads
        every trial that was unfinished when it last looked; so a fresh sampler holding
        it computes the same space as one starting from nothing.
        """
        attr = _SEARCH_SPACE_ATTR.get(sampler_name)
        own = getattr(sampler, attr, None) if attr is not None else None
        if not isinstance(own, IntersectionSearchSpace):
            log.debug("sampler %s keeps no search space at %s; not reusing it", sampler_name, attr)
            return
        assert attr is not None
        # One kept space per sampler kind: they may count pruned trials differently.
        kept = self._search_spaces.get(sampler_name)
        if kept is None:
            self._search_spaces[sampler_name] = own
        else:
            setattr(sampler, attr, kept)

    def _update_known(
        self,
        runs: Sequence[RunView],
        fingerprints: Sequence[tuple[Any, ...]],
        raws: Sequence[RunOutcome],
        told: Sequence[RunOutcome],
    ) -> bool:
        """Update the trials of runs already in the study; ``False`` if that cannot be done."""
        storage = self._study._storage
        for i, entry in enumerate(self._entries):
            if entry.run_id != runs[i].id:
                return False
            outcome = told[i]
            if outcome != entry.outcome:
                if entry.outcome.state is not TrialState.RUNNING:
                    return False
                if entry.trial_id is not None and outcome.state is not TrialState.RUNNING:
                    tell_end(storage, entry.trial_id, outcome)
                entry.outcome = outcome
            entry.fingerprint = fingerprints[i]
            entry.raw = raws[i]
        return True

    def _template(self, run: RunView, outcome: RunOutcome) -> FrozenTrial | None:
        params = self._space.encode(run.params)
        if params is None:
            log.debug("run %s: params outside the search space, not used by bayes", run.id)
            return None
        dists = {name: self._space.distributions[name] for name in params}
        return create_trial(
            state=outcome.state,
            values=outcome.told,
            params=params,
            distributions=dists,
            intermediate_values=dict(outcome.intermediate) or None,
        )


class BayesSearch(Search):
    """``method: bayes``: Optuna's TPE (or GP) sampler over the runs so far.

    >>> from localsweep.config import parse_config
    >>> cfg = parse_config({"method": "bayes", "metric": {"name": "loss"},
    ...                     "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    >>> search = BayesSearch(cfg)
    >>> p = search.propose([], random.Random(0))
    >>> 0.0 <= p.params[("x",)] <= 1.0
    True

    ``sampler_name`` is ``"tpe"``, ``"gp"`` (Optuna's) or ``"gp-numpy"`` (localsweep's);
    ``reason`` says why, for the agent's log.
    Raises :class:`~localsweep.errors.ConfigError` when the config has no metric, no
    searchable parameter, or asks for a sampler that cannot run here.
    """

    def __init__(self, config: SweepConfig):
        super().__init__(config)
        violations = []
        if not config.objectives:
            violations.append(
                Violation(
                    "metric",
                    f"method: {config.method.value} needs a metric to optimize; add "
                    "`metric: {name: <logged key>, goal: minimize}` (or maximize)",
                )
            )
        space = SearchSpace.from_config(config)
        if not space.dimensions:
            violations.append(
                Violation(
                    "parameters",
                    "method: bayes needs at least one parameter that is not a constant",
                )
            )
        if violations:
            raise ConfigError(violations)
        self._space = space
        self.sampler_name, self.reason = choose_sampler(config, space)
        self._tpe_after = tpe_after(config) if self.sampler_name != "tpe" else None
        self._cache = _StudyCache(space, config.objectives)

    @property
    def space(self) -> SearchSpace:
        """How the config's parameters map onto Optuna distributions."""
        return self._space

    def propose(self, runs: Sequence[RunView], rng: random.Random) -> Proposal:
        """The next point: Optuna's sampler asked against all ``runs``, seeded from ``rng``."""
        seed = rng.getrandbits(32)
        self._cache.sync(runs)
        study = self._cache.study
        # A fresh sampler each time: samplers carry state between calls (GP warm
        # starts), and the answer must not depend on which calls this object saw. Only
        # its search space is the study's, which a fresh one would compute the same.
        name = self.sampler_name
        if self._tpe_after is not None and len(runs) >= self._tpe_after:
            name = "tpe"
        sampler = _make_sampler(name, seed)
        self._cache.lend_search_space(sampler, name)
        study.sampler = sampler
        trial = study.ask(self._space.distributions)
        chosen = dict(trial.params)
        # The asked trial is only a question; failing it keeps it out of every later model.
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        params = self._space.decode(chosen)
        return Proposal(params=params, info={"sampler": name, "seed": seed})

"""The functions a wandb user calls: ``sweep``, ``agent`` and ``run``, shaped like wandb's."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from localsweep._agent_options import (
    check_count,
    check_sweep_path,
    folder_gone,
    folder_not_utf8,
    gpu_list,
    grace,
    max_failures_limit,
    no_home,
    split_sweep_path,
)
from localsweep.agent._defaults import DEFAULT_GRACE_PERIOD
from localsweep.config import SweepConfig, load_config

if TYPE_CHECKING:
    # At run time these are imported inside the functions: `import localsweep` binds
    # `sweep`, `agent` and `run` from here without loading SQLAlchemy or wandb.
    from localsweep.agent import AgentReport
    from localsweep.agent._progress import ProgressMode
    from localsweep.api import Sweep
    from localsweep.store import RunRecord, Store

if TYPE_CHECKING:
    from localsweep.priors import PriorRuns

__all__ = ["agent", "run", "sweep"]

logger = logging.getLogger(__name__)


def _config(source: SweepConfig | Mapping[str, Any] | str | os.PathLike[str]) -> SweepConfig:
    from localsweep.agent._scheduler_source import check_source

    if isinstance(source, SweepConfig):
        check_source(source)
        return source
    config = load_config(source)
    for warning in config.warnings:
        logger.warning("sweep config: %s", warning)
    check_source(config)
    return config


def _refuse_in_a_runs_import(call: str) -> None:
    """Refuse ``call`` in a run's process (``isolation="process"``) that is importing the
    user's script, as spawn's workers do: a call not under ``if __name__ == "__main__":``
    would make sweeps and runs of its own in the database before the run starts."""
    isolated = sys.modules.get("localsweep.agent._isolated")  # imported before any run
    if isolated is not None and isolated._bootstrapping:
        raise isolated.unguarded_call(call)


def sweep(
    sweep: SweepConfig
    | Mapping[str, Any]
    | str
    | os.PathLike[str]
    | Callable[[], Mapping[str, Any]]
    | None = None,
    entity: str | None = None,
    project: str | None = None,
    prior_runs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
    sweep_config: SweepConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> str:
    """Create a sweep from a wandb sweep config (a dict, or a YAML/JSON file) and return
    its id, like ``wandb.sweep``, with its parameter names: ``sweep`` is the config (also
    taken as ``sweep_config=``, localsweep's earlier name), or as wandb's a function
    returning it. Raises :class:`~localsweep.errors.ConfigError` listing every problem of
    an invalid config.

    ``prior_runs``, as wandb's, gives the sweep runs done before it to learn from: run or
    sweep ids of this database, ``DB#ID`` for another one, wandb offline run folders or
    globs of them, CSV/JSON runs tables (see docs/prior-runs.md). What was taken and
    skipped is logged (a warning with the first reasons when runs were skipped);
    :func:`localsweep.priors.load_prior_runs` returns it."""
    _refuse_in_a_runs_import("localsweep.sweep")
    if sweep is not None and sweep_config is not None:
        raise TypeError("give the sweep config once: sweep=... (wandb's name) or sweep_config=...")
    source = sweep if sweep is not None else sweep_config
    if source is None:
        raise TypeError("sweep() needs the sweep config: sweep(config) or sweep(sweep=config)")
    if callable(source) and not isinstance(source, (SweepConfig, Mapping)):
        source = source()  # wandb.sweep: "a configuration generator"
    sweep_config = source
    from localsweep.store import Store

    config = _config(sweep_config)
    found = read_priors_first(db, config, prior_runs)
    store = Store(db)
    try:
        return create_with_priors(
            store, config, prior_runs, found=found, project=project, entity=entity
        )[0]
    finally:
        store.close()


def _log_summary(found: PriorRuns) -> None:
    lines = found.summary_lines()
    for line in lines[:-1]:
        logger.info("%s", line)
    if not found.skipped:
        logger.info("%s", lines[-1])
        return
    # A library user should hear that runs were skipped, and why, without INFO logging.
    shown = [f"{s.candidate.source}: {s.reason}" for s in found.skipped[:3]]
    more = len(found.skipped) - len(shown)
    reasons = "; ".join(shown) + (f"; and {more} more (logged at INFO)" if more else "")
    logger.warning("%s (%s)", lines[-1], reasons)


def read_priors_first(
    db: str | os.PathLike[str] | None,
    config: SweepConfig,
    prior_runs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
) -> PriorRuns | None:
    """The prior runs, read before the database is opened when it is a SQLite file not made
    yet: a bad source then leaves no empty database behind (a new database holds no run or
    sweep a source could name). ``None`` otherwise: :func:`create_with_priors` reads them."""
    if prior_runs is None:
        return None
    from localsweep.priors import load_prior_runs, source_list

    sources = source_list(prior_runs)  # an empty source raises here, before any file
    if not sources:
        return None
    from localsweep.store import is_new_database

    if not is_new_database(db):
        return None
    return load_prior_runs(config, sources, None)


def create_with_priors(
    store: Store,
    config: SweepConfig,
    prior_runs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    report: Callable[[PriorRuns], None] = _log_summary,
    found: PriorRuns | None = None,
    **create: Any,
) -> tuple[str, PriorRuns | None]:
    """Create the sweep and write its prior runs; the sources are read and matched first
    (unless ``found`` has them already, see :func:`read_priors_first`), so a bad source
    leaves no sweep behind. ``report`` tells the user what was taken and skipped (the
    library logs it; the CLI prints it, and only there)."""
    if prior_runs:
        from localsweep.priors import load_prior_runs, source_list

        if found is None:
            found = load_prior_runs(config, source_list(prior_runs), store)
        report(found)
    from localsweep.wandb_bridge import sweep_entity, sweep_project

    # As `wandb sweep`: the argument, WANDB_PROJECT / WANDB_ENTITY, the config, the settings
    # files (and for the project the git repository's name).
    create["project"] = sweep_project(create.get("project"), config.project, config.program)
    create["entity"] = sweep_entity(create.get("entity"), config.entity)
    record = store.create_sweep(config, **create)
    if found is not None:
        from localsweep.priors import add_prior_runs

        add_prior_runs(store, record.id, config, found)
    return record.id, found


def agent(
    sweep_id: str,
    function: Callable[..., Any] | None = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
    isolation: Literal["thread", "process"] = "thread",
    timeout: float | None = None,
    workers: int | None = None,
    gpus: str | Sequence[str | int] | None = None,
    grace_period: float = DEFAULT_GRACE_PERIOD,
    max_consecutive_failures: int | None = None,
    on_run_end: Callable[[RunRecord], None] | None = None,
    quiet: bool = False,
    max_consecutive_failed_runs: int | None = None,
    forward_signals: bool = False,
    term_timeout: float | None = None,
) -> AgentReport:
    """Run the sweep's runs, like ``wandb.agent``.

    With ``function``, each run calls it in this process (``isolation="thread"``, the
    default, as wandb does) or in a fresh process (``isolation="process"``, for code that
    leaks memory or GPU state; ``timeout`` in seconds then ends a run that takes longer).
    Without ``function``, each run starts the config's ``program``/``command`` as a child
    process, as ``wandb agent`` does. ``workers`` runs that many runs at once (each in its
    own process); ``gpus`` gives worker ``i`` ``CUDA_VISIBLE_DEVICES=gpus[i % len(gpus)]``
    (``["0", "1"]``, or ``"0,1"`` as ``--gpus`` takes it; ``ValueError`` for none, ``[]``,
    or an empty entry).
    ``count`` caps the runs this agent starts; ``None`` runs until the sweep is done (a
    grid's points are exhausted, its ``run_cap`` or ``metric.target`` is reached).

    Progress goes to stderr: a bar in a terminal or a notebook, one plain line per run
    start and end elsewhere (a log file, ``nohup``, SLURM); ``quiet=True`` prints no
    progress (a failed run's traceback is still shown, as ``wandb.agent`` shows it).

    wandb.agent's own keywords are taken: ``max_consecutive_failed_runs`` (wandb's name
    for ``max_consecutive_failures``); ``term_timeout``, seconds a stopped run may take
    to end, becomes ``grace_period``; ``forward_signals`` changes nothing: this agent always
    passes Ctrl-C, SIGTERM and SIGHUP on to its runs as SIGINT (docs/differences.md).
    """
    _refuse_in_a_runs_import("localsweep.agent")
    from localsweep.store import Store, require_database

    del forward_signals  # always done here: see the docstring
    grace_period = grace(grace_period, term_timeout)
    check_count(count)
    gpus = gpu_list(gpus)
    failures = max_failures_limit(max_consecutive_failures, max_consecutive_failed_runs)
    sweep_id, path_project, path_entity = split_sweep_path(sweep_id)
    store = Store(require_database(db))
    try:
        return execute(
            store,
            sweep_id,
            function,
            # As wandb.agent: the project and entity of an E/P/ID path win.
            project=path_project or project,
            entity=path_entity or entity,
            count=count,
            isolation=isolation,
            timeout=timeout,
            workers=workers,
            gpus=gpus,
            grace_period=grace_period,
            max_consecutive_failures=failures,
            on_run_end=on_run_end,
            progress="quiet" if quiet else "auto",
            db=db,
            go_on_function=function,
        )
    finally:
        store.close()


def run(
    sweep_config: SweepConfig | Mapping[str, Any] | str | os.PathLike[str],
    train: Callable[..., Any] | None = None,
    count: int | None = 10,
    project: str | None = None,
    db: str | os.PathLike[str] | None = None,
    *,
    entity: str | None = None,
    isolation: Literal["thread", "process"] = "thread",
    timeout: float | None = None,
    workers: int | None = None,
    gpus: str | Sequence[str | int] | None = None,
    grace_period: float = DEFAULT_GRACE_PERIOD,
    max_consecutive_failures: int | None = None,
    on_run_end: Callable[[RunRecord], None] | None = None,
    prior_runs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    quiet: bool = False,
    max_consecutive_failed_runs: int | None = None,
) -> Sweep:
    """Create a sweep and run up to ``count`` of its runs here; returns the :class:`Sweep`.

    ``train`` is your wandb training function (``train()``, using ``wandb.init`` and
    ``wandb.log``) or a ``train(config)`` returning a number or a dict of metrics; without
    it, the config's ``program``/``command`` is started for each run. The other options
    are :func:`agent`'s: progress goes to stderr (a bar in a terminal or a notebook, a
    line per run elsewhere) unless ``quiet=True``; ``prior_runs`` is :func:`sweep`'s.

    >>> import localsweep
    >>> def train(config):
    ...     return (config["x"] - 2) ** 2
    >>> cfg = {"method": "grid", "metric": {"name": "loss"},
    ...        "parameters": {"x": {"values": [1, 2, 3]}}}
    >>> localsweep.run(cfg, train, db="sweeps.db").best_run().config   # doctest: +SKIP
    {'x': 2}
    """
    _refuse_in_a_runs_import("localsweep.run")
    from localsweep.api import Sweep
    from localsweep.store import Store

    check_count(count)
    gpus = gpu_list(gpus)  # before the sweep is made
    failures = max_failures_limit(max_consecutive_failures, max_consecutive_failed_runs)
    config = _config(sweep_config)
    if train is None:
        from localsweep.agent._workers import require_program

        require_program(config)  # before the sweep is made: it could not run
    if (homeless := no_home()) is not None:
        raise homeless  # before the database is made: every run would fail
    found = read_priors_first(db, config, prior_runs)
    store = Store(db)
    sweep_id, _found = create_with_priors(
        store, config, prior_runs, found=found, project=project, entity=entity
    )
    with discard_if_unstarted(store, sweep_id, logger.warning):
        execute(
            store,
            sweep_id,
            train,
            project=project,
            entity=entity,
            count=count,
            isolation=isolation,
            timeout=timeout,
            workers=workers,
            gpus=gpus,
            grace_period=grace_period,
            max_consecutive_failures=failures,
            on_run_end=on_run_end,
            progress="quiet" if quiet else "auto",
            db=db,
            go_on_function=train,
        )
    return Sweep(store, store.get_sweep(sweep_id))


@contextlib.contextmanager
def discard_if_unstarted(store: Store, sweep_id: str, say: Callable[[str], Any]) -> Iterator[None]:
    """Run the sweep :func:`run` (or ``localsweep run``) just made; should its agent fail
    before any run of its own (the user's scheduler code, the search), remove the sweep,
    of no use to anyone, ``say`` so, and let the error through. A sweep with runs stays,
    and so does one whose agent was interrupted (Ctrl-C is no failure to start)."""
    try:
        yield
    except Exception:
        with contextlib.suppress(Exception):  # the agent's error is the one to show
            if store.discard_unstarted_sweep(sweep_id):
                say(f"Removed sweep {sweep_id}: its agent could not start")
        raise


def execute(
    store: Store,
    sweep_id: str,
    function: Callable[..., Any] | None,
    *,
    project: str | None,
    entity: str | None,
    count: int | None,
    isolation: Literal["thread", "process"] = "thread",
    timeout: float | None = None,
    workers: int | None = None,
    gpus: Sequence[str] | None = None,
    grace_period: float = DEFAULT_GRACE_PERIOD,
    max_consecutive_failures: int = 5,
    on_run_end: Callable[[RunRecord], None] | None = None,
    progress: ProgressMode = "quiet",
    db: str | os.PathLike[str] | None = None,
    go_on_function: str | Callable[..., Any] | None = None,
) -> AgentReport:
    """Run a sweep's runs with the runner its options call for (shared by ``agent``,
    ``run`` and the CLI). ``progress`` says how runs are shown on stderr (``auto``: a bar in
    a terminal or notebook, else a line per run; ``quiet``: nothing). ``db`` (as the user
    gave it) and ``go_on_function`` (``--function``'s ``MODULE:FUNC``, or the function) are
    what the message on Ctrl-C needs to say how to go on with the sweep."""
    # Before any worker starts: each would refuse it.
    check_sweep_path(store.get_sweep(sweep_id), project, entity)
    if (gone := folder_gone()) is not None:
        raise gone  # started in a deleted folder: one message, before any run is claimed
    if (odd := folder_not_utf8()) is not None:
        raise odd
    if (homeless := no_home()) is not None:
        raise homeless
    from localsweep._hints import (
        go_on_hint,
        logged_keys,
        missing_metric_message,
        missing_objective_message,
    )
    from localsweep.agent import run_workers, runner_factory
    from localsweep.agent._disk import SETUP_ERROR
    from localsweep.agent._progress import SweepProgress
    from localsweep.records import RunState

    make_runner = runner_factory(
        store,
        sweep_id,
        function=function,
        isolation=isolation,
        project=project,
        entity=entity,
        timeout=timeout,
        grace_period=grace_period,
        # Several workers' output interleaves: each line names its run.
        prefix_output=(workers if workers is not None else max(len(gpus or ()), 1)) > 1,
    )
    shown = SweepProgress(store, sweep_id, total=count, mode=progress)
    metric = shown.config.metric
    warned: list[bool] = []
    # The runs that count towards ``count``, as the agent counts them: every run it
    # recorded whatever its end; not one Ctrl-C interrupted (no result, not counted), nor
    # one the agent could not run (a setup error: its end line is shown, then it stops).
    counted: list[RunRecord] = []

    def _others_ranked(run: RunRecord) -> bool:
        """Whether other runs of the sweep (any agent's, prior runs too) have their
        result: then it is ``run`` that has none, not every run."""
        from localsweep.agent._progress import best_finished
        from localsweep.errors import StoreError

        try:
            runs = store.list_runs(sweep_id)
        except StoreError:  # said by the agent at its next write; judged on this call's
            runs = counted
        others = [r for r in runs if r.id != run.id]
        config = shown.config
        if config.is_multi_objective:
            return any(
                r.state is RunState.FINISHED and missing_objective_message(config, r) is None
                for r in others
            )
        return best_finished(config, others) is not None

    def ended(run: RunRecord) -> None:
        if run.end_reason != SETUP_ERROR:
            counted.append(run)
        shown.on_run_end(run)
        message = None
        if not warned and run.state is RunState.FINISHED:
            if metric is not None and run.metric is None:
                message = missing_metric_message(
                    metric.name,
                    logged_keys(run.summary),
                    run.id,
                    value=run.summary.get(metric.name),
                    others_ranked=_others_ranked(run),
                )
            elif (
                shown.config.is_multi_objective
                and missing_objective_message(shown.config, run) is not None
            ):
                # Read the sweep's runs only for a run that lacks an objective: every run
                # that has them would cost a read of them all.
                message = missing_objective_message(
                    shown.config, run, others_ranked=_others_ranked(run)
                )
        if message is not None:
            # Said once: every later run most likely logs the same keys.
            warned.append(True)
            if shown.mode == "quiet":
                # quiet: nothing printed (docs/python-api.md); there for logging set up to show it.
                logger.info("%s", message)
            else:
                shown.note(f"Warning: {message}")
        if on_run_end is not None:
            on_run_end(run)

    def how_to_go_on() -> str:
        left = None if count is None else count - len(counted)
        isolated = isolation if function is not None else None
        return go_on_hint(
            sweep_id, db, go_on_function, count=left, isolation=isolated, workers=workers
        )

    with shown, _saying_how_to_go_on(sweep_id, how_to_go_on):
        return run_workers(
            store,
            sweep_id,
            make_runner=make_runner,
            workers=workers,
            count=count,
            gpus=gpus,
            project=project,
            entity=entity,
            max_consecutive_failures=max_consecutive_failures,
            on_run_end=ended,
            on_run_start=shown.on_run_start,
        )


@contextlib.contextmanager
def _saying_how_to_go_on(sweep_id: str, go_on: Callable[[], str]) -> Iterator[None]:
    """An :class:`AgentInterrupted` (or a :class:`RunSetupError`: a full disk) let through
    with ``go_on()``, the command that goes on with the sweep: the same database and
    function, which the agent itself does not know, the runs left of its ``count`` and
    its isolation."""
    from localsweep.agent import AgentInterrupted
    from localsweep.errors import RunSetupError

    try:
        yield
    except AgentInterrupted as exc:
        raise AgentInterrupted(exc.interrupted, exc.grid, sweep_id, go_on=go_on()) from None
    except RunSetupError as exc:
        said = RunSetupError(f"{exc}. {go_on()}")
        raise said from exc.__cause__

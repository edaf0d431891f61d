"""Read sweeps and runs back, shaped like ``wandb.Api``'s objects.

>>> import localsweep
>>> api = localsweep.Api()                      # doctest: +SKIP
>>> sweep = api.sweep("ls-k3j9x2ab")            # doctest: +SKIP
>>> sweep.best_run().config                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from localsweep._api_run import FLUSH_WAIT, Run
from localsweep._api_runs import (
    app_url,
    bare_key,
    best_run_key,
    check_filters,
    matches,
    parse_path,
    parse_project_path,
    sort_runs,
)
from localsweep.config import Goal, SweepConfig
from localsweep.records import RESULT_STATES
from localsweep.store import Store, SweepRecord

__all__ = ["FLUSH_WAIT", "Api", "Run", "Sweep"]

logger = logging.getLogger(__name__)


class Sweep:
    """A sweep and its runs. ``runs`` are in the order they were created."""

    def __init__(self, store: Store, record: SweepRecord):
        self._store = store
        self._record = record

    @property
    def id(self) -> str:
        """The sweep id (``ls-`` and 8 letters or digits)."""
        return self._record.id

    @property
    def name(self) -> str:
        """The sweep's name, or its id when it has none."""
        return self._record.name or self._record.id

    @property
    def display_name(self) -> str:
        """:attr:`name`, under wandb.Api's other name for it: wandb's ``Sweep.name`` is the
        name given to the sweep, else its config's ``name``, else its id, as here."""
        return self.name

    @property
    def method(self) -> str:
        """The search method, as the config names it: ``grid``, ``random``, ``bayes``, or
        ``custom`` (a custom scheduler) (wandb.Api's ``Sweep.method``)."""
        return self._record.config.method.value

    @property
    def config(self) -> dict[str, Any]:
        """The sweep config as wandb.Api's ``Sweep.config`` returns it: as written (numbers
        written as strings converted), each parameter with the ``distribution`` W&B's
        server fills in (``values`` -> ``categorical``, ``value`` -> ``constant``, integer
        ``min``/``max`` -> ``int_uniform``, float ones -> ``uniform``...) and the
        distribution's defaults (``q``, ``mu``, ``sigma``...), nested parameters too. The
        stored config stays as written; :attr:`parsed_config` is localsweep's reading."""
        from localsweep._api_state import filled_parameters

        return filled_parameters(self._record.config.raw, self._record.config.parameters)

    @property
    def parsed_config(self) -> SweepConfig:
        """The config as localsweep understood it (defaults and inferred distributions filled)."""
        return self._record.config

    @property
    def state(self) -> str:
        """wandb.Api's spelling: ``PENDING`` (no run yet), ``RUNNING``, ``PAUSED``,
        ``FINISHED`` (its ``finished_reason`` says why: ``stopped`` for :meth:`stop`) or
        ``CANCELED``. (The CLI and the store write them in lower case.)"""
        return self._record.state.value.upper()

    def load(self, force: bool = False) -> Sweep:
        """Read the sweep again from the database (wandb's ``Sweep.load``): its state, and
        its runs as they are now. Returns the sweep."""
        self._record = self._store.get_sweep(self.id)
        self.__dict__.pop("_all_runs", None)
        return self

    @property
    def expected_run_count(self) -> int | None:
        """How many runs the sweep will have, ``None`` for no end of its own (wandb's
        ``expected_run_count``): a grid's point count, capped by ``run_cap``; else
        ``run_cap``."""
        config = self._record.config
        cap = config.run_cap
        if config.method.value == "grid":
            from localsweep.store import grid_size

            size = grid_size(config)
            return size if cap is None else min(size, cap)
        return cap

    @property
    def order(self) -> str | None:
        """The order :meth:`best_run` ranks by, written as wandb's ``Sweep.order``:
        ``+summary_metrics.loss`` (minimize) or ``-summary_metrics.acc``; ``None``
        without a metric."""
        metric = self._record.config.metric
        if metric is None:
            return None
        sign = "-" if metric.goal is Goal.MAXIMIZE else "+"
        return f"{sign}summary_metrics.{metric.name}"

    @property
    def path(self) -> list[str]:
        """``[entity, project, id]`` as wandb's ``Sweep.path`` (entity ``""`` when unknown,
        project ``uncategorized`` when none)."""
        return [self.entity or "", self.project or "uncategorized", self.id]

    @property
    def url(self) -> str | None:
        """The sweep's page on W&B once ``localsweep sync`` created it there (the latest
        sync's), else ``None``: an offline sweep has no page."""
        from localsweep.store import _sync_state

        targets = _sync_state.find_targets(self._store.engine, self.id)
        if not targets:
            return None
        target = targets[-1]
        return (
            f"{app_url(target.base_url)}/{target.entity}/{target.project}"
            f"/sweeps/{target.server_sweep_id}"
        )

    def pause(self) -> Sweep:
        """Start no new run until :meth:`resume`; running runs go on (``wandb sweep --pause``).
        Agents see it within a few seconds and wait."""
        return self._control("pause")

    def resume(self) -> Sweep:
        """Let a paused, stopped or cancelled sweep start runs again (``wandb sweep --resume``)."""
        return self._control("resume")

    def stop(self) -> Sweep:
        """Finish the sweep: running runs finish, no new run starts (``wandb sweep --stop``)."""
        return self._control("stop")

    def cancel(self) -> Sweep:
        """Stop the running runs too, cleanly (recorded ``killed``, end reason ``cancelled``;
        their points run again if the sweep is resumed) (``wandb sweep --cancel``)."""
        return self._control("cancel")

    def _control(self, action: str) -> Sweep:
        self._record = self._store.control_sweep(self.id, action)
        return self

    @property
    def finished_reason(self) -> str | None:
        """Why a finished sweep finished: ``exhausted``, ``run_cap``, ``target_reached``..."""
        return self._record.finished_reason

    @property
    def project(self) -> str | None:
        """The wandb project its runs are filed under."""
        return self._record.project

    @property
    def entity(self) -> str | None:
        """The wandb entity (user or team) it was created for, if one was given."""
        return self._record.entity

    @property
    def created_at(self) -> datetime:
        """When the sweep was created (UTC, naive)."""
        return self._record.created_at

    def _db_time(self) -> datetime:
        """Now by the database's clock (:meth:`Store.db_time`), which wrote the runs'
        heartbeats: what ``show``, the report and the ui judge silent runs against."""
        return self._store.db_time()

    @cached_property
    def _all_runs(self) -> list[Run]:
        return [Run(self._store, r, self) for r in self._store.list_runs(self.id)]

    @property
    def runs(self) -> list[Run]:
        """The sweep's own runs, in the order they were created (read once, then cached).
        Prior runs are not among them, as in wandb's Api: see :attr:`prior_runs`."""
        return [r for r in self._all_runs if not r.prior]

    @property
    def run_count(self) -> int:
        """How many runs the sweep has made, whatever their state (wandb.Api's
        ``runCount``): ``len(runs)``, prior runs not counted."""
        return len(self.runs)

    @property
    def prior_runs(self) -> list[Run]:
        """The runs given to the sweep to learn from (``--prior-runs``, wandb's prior runs),
        in the order they were given."""
        return [r for r in self._all_runs if r.prior]

    def best_run(self, order: str | None = None) -> Run | None:
        """The run with the best summary value of the sweep metric among the runs with a
        result, finished or stopped early (Hyperband, a plateau: the value they reached), as
        W&B's sweep page ranks them; ``None`` when no such run has one. Failed, crashed
        and killed runs do not count: a partial value is no result. Prior runs count too
        (``Run.prior`` says which it is).

        ``order`` ranks by something else, read as wandb's ``Sweep.best_run`` reads it: a
        summary key (``"acc"``, a nested ``"val.acc"``, or ``"summary_metrics.acc"``) or
        a config key (``"config.lr"``); the largest first, unless it starts with ``+``
        (the smallest first; ``-`` is the largest, as without a sign). ``"createdAt"``,
        ``"updatedAt"`` and ``"name"`` (the run id, W&B's server name for a run, as in
        :meth:`Api.runs`) rank by that, the same way; wandb 0.31 drops these keys
        (``QueryGenerator.format_order_key`` returns ``None``) and returns the sweep's
        oldest run.
        """
        metric = self._record.config.metric
        maximize_order = order is not None and not order.startswith("+")
        if (
            order is not None
            and metric is not None
            and bare_key(order) == metric.name
            and maximize_order == (metric.goal is Goal.MAXIMIZE)
        ):
            # The sweep metric in its goal's direction: read as best_run() reads it (the
            # aggregate the goal keeps of a define_metric summary). The other direction
            # reads the key as Api.runs(order=...) does (a "max" for "-").
            value_of, maximize = (lambda run: run.metric), maximize_order
        elif order is not None:
            value_of, maximize = best_run_key(order)
        elif metric is not None:
            value_of, maximize = (lambda run: run.metric), metric.goal is Goal.MAXIMIZE
        else:
            return None
        best: Run | None = None
        best_value: Any = None
        for run in self._all_runs:
            if run.state not in RESULT_STATES:
                continue
            value = value_of(run)
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            # Text sorts as text (order="config.optimizer"), above every number.
            value = (isinstance(value, str), value)
            if best is None or (value > best_value if maximize else value < best_value):
                best, best_value = run, value
        if best is None and order is not None:
            logger.warning("best_run(order=%r): no run with a result has that value", order)
        return best

    def pareto_runs(self) -> list[Run]:
        """The runs with a result (finished or stopped early, as :meth:`best_run` counts
        them) no other such run beats in every objective of the sweep's ``metrics`` (its
        Pareto set), prior runs first, then the sweep's own in creation order. For a
        multi-objective sweep this takes :meth:`best_run`'s place, and like it counts prior
        runs (``Run.prior`` says which it is): a trade-off found before is still on the
        front. With one metric it is the best run(s). A run missing an objective's value is
        on no front."""
        from localsweep.search._multi import non_dominated, objective_values

        metrics = self._record.config.objectives
        if not metrics:
            return []
        scored = []
        for run in (*self.prior_runs, *self.runs):
            if run.state not in RESULT_STATES:
                continue
            values = objective_values(run.summary, metrics)
            if values is not None:
                scored.append((run, values))
        front = non_dominated([v for _, v in scored], [m.goal for m in metrics])
        return [scored[i][0] for i in front]

    def __repr__(self) -> str:
        return f"<Sweep {self.id} ({self.state})>"


class Api:
    """Read access to a localsweep database (``db``: a path or SQLAlchemy URL; default as
    everywhere: ``LOCALSWEEP_DB`` or ``./localsweep.db``)."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, store: Store | None = None):
        self._db = db
        self._opened = store

    @property
    def _store(self) -> Store:
        # Opened at first use, and never created: reading must not leave an empty
        # database (or its folders) behind on a mistyped path.
        if self._opened is None:
            from localsweep.store import require_database

            self._opened = Store(require_database(self._db))
        return self._opened

    def flush(self) -> None:
        """Does nothing: kept for ported code (wandb.Api's ``flush`` drops the runs its
        ``Api`` keeps, for a loop that polls a run until it ends). This ``Api`` keeps
        nothing: each :meth:`sweep`, :meth:`run`, :meth:`runs` and :meth:`sweeps` reads
        the database afresh. A :class:`Run` or :class:`Sweep` already held keeps what it
        read until its ``load()``, as wandb's objects do."""

    def sweeps(self) -> list[Sweep]:
        """Every sweep in the database, oldest first."""
        return [Sweep(self._store, r) for r in self._store.list_sweeps()]

    def sweep(self, sweep_id: str) -> Sweep:
        """The sweep ``sweep_id``; wandb's path forms are accepted too (``entity/project/id``,
        ``entity/project:id``, ``project/id``, ``project:id``, a URL's ``.../sweeps/id``).
        Only the id selects: ids are unique in a database."""
        return Sweep(self._store, self._store.get_sweep(parse_path(sweep_id)[2]))

    def run(self, run_id: str) -> Run:
        """The run ``run_id``; wandb's path forms are accepted too, as for :meth:`sweep`."""
        return Run(self._store, self._store.get_run(parse_path(run_id, "run")[2]))

    def runs(
        self,
        path: str | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str = "+created_at",
        per_page: int = 50,
        include_sweeps: bool = False,
        lazy: bool = True,
    ) -> list[Run]:
        """The runs of the database, as ``wandb.Api().runs``: ``path`` (``"project"`` or
        ``"entity/project"``) keeps the runs of sweeps filed there (a sweep created without
        an entity matches any entity); ``filters`` is a MongoDB-style query over ``state``,
        ``sweep``, ``display_name``, ``config.KEY``, ``summary_metrics.KEY``, ``created_at``...
        (docs/python-api.md lists what is understood; anything else raises ``ValueError``);
        ``order`` sorts (``"+created_at"``, the default, ``"-summary_metrics.loss"``,
        ``"config.lr"``: ascending without a sign). Each run is listed once, where it was
        run: a sweep's prior runs (copies given to it to learn from) are not; see
        :attr:`Sweep.prior_runs`. ``per_page``, ``include_sweeps`` and ``lazy`` are
        accepted and change nothing (no server to page; ``Run.sweep`` is always there).
        A list, where wandb's is a lazy ``Runs`` (both iterate, index and have a length).
        """
        entity, project = parse_project_path(path)
        if filters:
            check_filters(filters)
        if order:
            sort_runs([], order)  # an unknown order key raises before anything is read
        found: list[Run] = []
        for sweep in self.sweeps():
            if project is not None and (sweep.project or "uncategorized") != project:
                continue
            if entity is not None and sweep.entity not in (None, entity):
                continue
            found.extend(sweep.runs)
        found.sort(key=lambda run: run.created_at)
        if filters:
            found = [run for run in found if matches(run, filters)]
        return sort_runs(found, order)


def summary_items(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary without wandb's bookkeeping keys (``_step``, ``_runtime``, ``_timestamp``...)."""
    return {k: v for k, v in summary.items() if not k.startswith("_")}

"""The functions a wandb user calls: ``sweep``, ``agent`` and ``run``, shaped like wandb's."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from localsweep.agent import Agent, AgentReport
from localsweep.api import Sweep
from localsweep.config import SweepConfig, load_config
from localsweep.store import RunRecord, Store

__all__ = ["agent", "run", "sweep"]

logger = logging.getLogger(__name__)


def _config(source: SweepConfig | Mapping[str, Any] | str | os.PathLike[str]) -> SweepConfig:
    if isinstance(source, SweepConfig):
        return source
    config = load_config(source)
    for warning in config.warnings:
        logger.warning("sweep config: %s", warning)
    return config


def sweep(
    sweep_config: SweepConfig | Mapping[str, Any] | str | os.PathLike[str],
    project: str | None = None,
    entity: str | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
) -> str:
    """Create a sweep from a wandb sweep config (a dict, or a YAML/JSON file) and return
    its id, like ``wandb.sweep``. Raises :class:`~localsweep.errors.ConfigError` listing
    every problem of an invalid config."""
    store = Store(db)
    try:
        return store.create_sweep(_config(sweep_config), project=project, entity=entity).id
    finally:
        store.close()


def agent(
    sweep_id: str,
    function: Callable[..., Any],
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
    max_consecutive_failures: int = 5,
    on_run_end: Callable[[RunRecord], None] | None = None,
) -> AgentReport:
    """Run ``function`` for the sweep's runs in this process, like ``wandb.agent``.

    ``count`` caps the runs this agent starts; ``None`` runs until the sweep is done
    (a grid's points are exhausted, its ``run_cap`` or ``metric.target`` is reached).
    """
    store = Store(db)
    try:
        return Agent(
            store,
            sweep_id.rsplit("/", 1)[-1],
            function,
            count=count,
            project=project,
            entity=entity,
            max_consecutive_failures=max_consecutive_failures,
            on_run_end=on_run_end,
        ).run()
    finally:
        store.close()


def run(
    sweep_config: SweepConfig | Mapping[str, Any] | str | os.PathLike[str],
    train: Callable[..., Any],
    count: int | None = 10,
    project: str | None = None,
    db: str | os.PathLike[str] | None = None,
    *,
    entity: str | None = None,
    on_run_end: Callable[[RunRecord], None] | None = None,
) -> Sweep:
    """Create a sweep and run up to ``count`` of its runs here; returns the :class:`Sweep`.

    >>> import localsweep
    >>> def train(config):
    ...     return (config["x"] - 2) ** 2
    >>> cfg = {"method": "grid", "metric": {"name": "loss"},
    ...        "parameters": {"x": {"values": [1, 2, 3]}}}
    >>> localsweep.run(cfg, train, db=":memory:").best_run().config   # doctest: +SKIP
    {'x': 2}
    """
    config = _config(sweep_config)
    store = Store(db)
    record = store.create_sweep(config, project=project, entity=entity)
    Agent(
        store, record.id, train, count=count, project=project, entity=entity, on_run_end=on_run_end
    ).run()
    return Sweep(store, store.get_sweep(record.id))

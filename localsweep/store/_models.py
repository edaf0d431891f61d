"""SQLAlchemy models: sweeps, their runs, and each run's metric history.

The schema is versioned with Alembic (``migrations/``); ``SCHEMA_VERSION`` is the head
revision this code expects. Change a model only together with a new migration.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "SCHEMA_VERSION",
    "Base",
    "HistoryModel",
    "RunModel",
    "SweepModel",
    "SyncRunModel",
    "SyncTargetModel",
]

#: The Alembic revision of the newest migration; a database stamped otherwise is refused.
SCHEMA_VERSION = "0009"


class Base(DeclarativeBase):
    pass


class SweepModel(Base):
    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(256))
    method: Mapped[str] = mapped_column(String(16))
    #: The config as the user wrote it, as JSON (numbers written as strings converted).
    config_json: Mapped[str] = mapped_column(Text)
    project: Mapped[str | None] = mapped_column(String(256))
    entity: Mapped[str | None] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    #: Why the sweep finished: grid exhausted, run_cap, target reached, stopped by the user.
    finished_reason: Mapped[str | None] = mapped_column(String(64))
    #: Seeds every run's random stream (from ``localsweep: {seed: ...}`` or drawn at creation).
    seed: Mapped[int] = mapped_column(Integer)
    #: Runs created so far; bumped in the claim transaction, gives each run its number.
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    #: Runs that count for ``run_cap`` and the grid: every run but crashed and killed ones
    #: (those give their point back). Kept by every transaction that changes a run's state,
    #: so a claim never counts the sweep's runs.
    live_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Runs in state ``running`` now.
    running_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The directory of the config file the sweep was made from (``scheduler.source``
    #: is relative to it), if it was made from a file.
    config_dir: Mapped[str | None] = mapped_column(Text)


class RunModel(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("sweep_id", "number", name="uq_runs_sweep_number"),
        # Each grid point is claimed by exactly one run; a crashed run gives its point up
        # by setting grid_key to NULL (NULLs never collide), so it can be claimed again.
        UniqueConstraint("sweep_id", "grid_key", name="uq_runs_sweep_grid_key"),
        Index("ix_runs_sweep_state", "sweep_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(32))
    #: The run's parameters, nested as wandb delivers them, as JSON.
    config_json: Mapped[str] = mapped_column(Text)
    grid_key: Mapped[str | None] = mapped_column(String(64))
    #: The grid point this run ran, kept after a crash releases ``grid_key``.
    point_key: Mapped[str | None] = mapped_column(String(64))
    search_info_json: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(String(128))
    agent_host: Mapped[str | None] = mapped_column(String(256))
    agent_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    #: The heartbeat timeout, in seconds, of the agent that holds the run (its
    #: ``LOCALSWEEP_HEARTBEAT_TIMEOUT``, set with each claim): the run is taken for dead
    #: only once its heartbeat is older than that, whatever the timeout of the agent that
    #: looks. Empty for runs claimed before schema 0009: those are judged by the looker's.
    heartbeat_timeout: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    summary_json: Mapped[str | None] = mapped_column(Text)
    #: The sweep metric's summary value (what W&B sorts a sweep's runs by).
    metric: Mapped[float | None] = mapped_column(Float)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    #: The wandb offline run folder.
    dir: Mapped[str | None] = mapped_column(Text)
    #: For runs hyperband stopped: the band (iteration count) at which they were judged.
    stopped_at_band: Mapped[int | None] = mapped_column(Integer)
    #: A stop hyperband decided for this running run while judging another run (wandb's
    #: controller judges every running run each time); the run stops at its next flush.
    stop_requested_band: Mapped[int | None] = mapped_column(Integer)
    #: Why a run ended the way it did, in one word: ``hyperband`` for a run hyperband
    #: stopped; other stoppers and faults name themselves (``plateau``, ``pruned``, ...).
    end_reason: Mapped[str | None] = mapped_column(String(32))
    stdout_path: Mapped[str | None] = mapped_column(Text)
    stderr_path: Mapped[str | None] = mapped_column(Text)
    #: The fencing token of the claim that holds the run: every write of a running run is
    #: conditional on it, so an agent whose run was reaped can never end it.
    lease: Mapped[str | None] = mapped_column(String(32))
    #: 1 for a fresh run; each resume of a preempted run adds one.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: History rows written so far: the next row's ``seq``.
    history_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The token of the last history write, so a replayed write is noticed and skipped.
    history_batch: Mapped[str | None] = mapped_column(String(32))
    #: A run done before the sweep and given to it as a prior run (``--prior-runs``): the
    #: search learns from it and a grid does not repeat its point, but it is not one of
    #: the sweep's own runs (``run_cap`` does not count it). Priors have negative numbers.
    prior: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Where a prior run came from (a run folder, a file and row, a database and sweep).
    prior_source: Mapped[str | None] = mapped_column(Text)
    #: A prior run's own id there (wandb's run id), when it has one.
    prior_run_id: Mapped[str | None] = mapped_column(String(64))


class HistoryModel(Base):
    __tablename__ = "history"
    __table_args__ = (
        Index("ix_history_run_step", "run_id", "step"),
        # A replayed write can never add a row twice (rows from before 0004 have no seq).
        UniqueConstraint("run_id", "seq", name="uq_history_run_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    step: Mapped[int] = mapped_column(Integer)
    #: The whole logged row as JSON.
    data_json: Mapped[str] = mapped_column(Text)
    #: The sweep metric's value in this row, if the row has it (NaN is stored as NULL).
    metric: Mapped[float | None] = mapped_column(Float)
    #: Whether the row logged the sweep metric at all (so a NaN still counts as logged).
    has_metric: Mapped[bool] = mapped_column(default=False)
    #: The row's position in its run's history, over every attempt.
    seq: Mapped[int | None] = mapped_column(Integer)


class SyncTargetModel(Base):
    """Where ``localsweep sync`` uploads a local sweep: the server's sweep for it.

    Written before anything is uploaded, so a second sync reuses the server's sweep.
    """

    __tablename__ = "sync_targets"
    __table_args__ = (
        UniqueConstraint("sweep_id", "base_url", "entity", "project", name="uq_sync_targets"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id"))
    base_url: Mapped[str] = mapped_column(String(512))
    entity: Mapped[str] = mapped_column(String(256))
    project: Mapped[str] = mapped_column(String(256))
    #: The sweep's name (id) on the server, which the server chose.
    server_sweep_id: Mapped[str] = mapped_column(String(128))
    #: ``sweep`` (runs attached through their sweep id) or ``prior_runs`` (the fallback).
    path: Mapped[str] = mapped_column(String(16), default="sweep")
    #: Whether the server's sweep was marked finished.
    finished: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column()


class SyncRunModel(Base):
    """The outcome of uploading one run to one sync target."""

    __tablename__ = "sync_runs"

    target_id: Mapped[int] = mapped_column(ForeignKey("sync_targets.id"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    #: ``synced``, or why not: ``failed``, ``missing``, ``corrupt``, ``foreign``, ...
    outcome: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()

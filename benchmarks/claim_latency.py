"""Claim latency as a sweep grows, beside Optuna's own storage at the same sizes.

For each size (1,000 / 10,000 / 100,000 ended runs already in the sweep) this measures,
on a SQLite file:

- ours, ``random``: ``Store.claim_run`` of a random sweep with a ``run_cap`` (the claim
  checks the cap; random search reads no runs);
- ours, ``views``: ``Store.claim_run`` handing every run to ``propose`` (the grid and
  bayes path), with a propose that costs nothing, so the figure is the store's part;
- Optuna: ``study.ask()`` with RandomSampler on ``RDBStorage`` over SQLite (its claim:
  pop a waiting trial, else create one).

Each claimed run / asked trial is then ended (not timed), so few runs are in flight. The
sweep is filled with a bulk insert (seconds for 100,000 runs), then warmed by a few
claims: the first claim of a new agent reads every run once, which is reported apart.

    python benchmarks/claim_latency.py [--sizes 1000 10000 100000] [--claims 50]
        [--postgres postgresql+psycopg://user@host:port/db]

With ``--postgres``, both run on that server instead (a fresh database per measurement,
created and dropped by the benchmark).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

RANDOM = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
    "run_cap": 10_000_000,
}
WARMUP = 5


def _fill_ours(store: Any, sweep_id: str, n: int) -> None:
    """n finished runs in the sweep, by bulk insert (as if claimed and finished)."""
    from sqlalchemy import insert, update

    from localsweep.store._tables import runs, sweeps

    now = datetime(2026, 1, 1)
    rows = [
        {
            "id": f"bulk{i:010d}",
            "sweep_id": sweep_id,
            "number": i,
            "state": "finished",
            "config_json": '{"x":0.5}',
            "grid_key": f"g{i}",
            "point_key": f"g{i}",
            "heartbeat_at": now,
            "created_at": now,
            "finished_at": now,
            "metric": 0.5,
            "summary_json": "{}",
            "attempt": 1,
            "history_seq": 0,
        }
        for i in range(n)
    ]
    with store._session.engine.begin() as conn:
        for start in range(0, n, 20_000):
            conn.execute(insert(runs), rows[start : start + 20_000])
        conn.execute(
            update(sweeps)
            .where(sweeps.c.id == sweep_id)
            .values(run_count=n, live_count=n, running_count=0, state="running")
        )
    with store._session.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Autovacuum would analyze the table soon after; the planner needs statistics.
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            # Copy the fill from the WAL into the file now, not during the timed claims.
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


class Databases:
    """A fresh database per measurement: a SQLite file, or one on a PostgreSQL server."""

    def __init__(self, tmp: Path, server: str | None):
        self.tmp, self.server = tmp, server
        self.created: list[str] = []

    def url(self, name: str) -> str:
        """The SQLAlchemy URL of a new, empty database called ``name``."""
        if self.server is None:
            return f"sqlite:///{self.tmp / (name + '.db')}"
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        engine = create_engine(self.server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.created.append(name)
        return make_url(self.server).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop the databases made on the server."""
        if self.server is None or not self.created:
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def bench_ours(n: int, claims: int, dbs: Databases, views: bool) -> tuple[float, float]:
    """(first claim of a new agent, median claim after warm-up), in seconds."""
    from localsweep.config import parse_config
    from localsweep.records import Proposal, RunState, RunView
    from localsweep.store import AgentInfo, Store

    path = dbs.url(f"bench_ours_{n}_{int(views)}")
    setup = Store(path)
    config = parse_config(RANDOM)
    sweep = setup.create_sweep(config)
    _fill_ours(setup, sweep.id, n)
    setup.close()

    store = Store(path)
    agent = AgentInfo.current()
    seen: list[int] = []

    def propose(runs: Sequence[RunView], number: int) -> Proposal | None:
        seen.append(len(runs))
        return Proposal(params={("x",): 0.5}, grid_key=f"new{number}")

    def claim() -> float:
        start = time.perf_counter()
        got = store.claim_run(sweep.id, agent, propose, needs_runs=views, nest=config.nest)
        elapsed = time.perf_counter() - start
        assert got.run is not None, got
        store.finish_run(got.run, RunState.FINISHED, metric=0.5)
        return elapsed

    first = claim()
    for _ in range(WARMUP - 1):
        claim()
    times = [claim() for _ in range(claims)]
    if views:
        assert seen[-1] == n + WARMUP + claims - 1, "propose must see every run"
    store.close()
    return first, statistics.median(times)


def _fill_optuna(url: str, study_id: int, n: int) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(trial_id), 0) FROM trials")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, "
                "datetime_complete) VALUES (:id, :number, :study, 'COMPLETE', :t, :t)"
            ),
            [{"id": first + 1 + i, "number": i, "study": study_id, "t": now} for i in range(n)],
        )
        conn.execute(
            text(
                "INSERT INTO trial_values (trial_id, objective, value, value_type) "
                "VALUES (:id, 0, 0.5, 'FINITE')"
            ),
            [{"id": first + 1 + i} for i in range(n)],
        )
        if engine.dialect.name == "postgresql":  # explicit ids leave the sequence behind
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                    "(SELECT MAX(trial_id) FROM trials))"
                )
            )
    engine.dispose()


def bench_optuna(n: int, claims: int, dbs: Databases, tuned: bool) -> tuple[float, float]:
    """Optuna's ask on its RDB storage over SQLite: as it comes (rollback journal, full
    fsync per commit), or ``tuned`` with the pragmas localsweep uses (WAL, synchronous
    NORMAL), so the comparison is not only about fsync."""
    import optuna
    from sqlalchemy import event

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = dbs.url(f"bench_optuna_{n}_{int(tuned)}")
    study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    _fill_optuna(url, study._study_id, n)
    storage = optuna.storages.RDBStorage(url)
    if tuned and storage.engine.dialect.name == "sqlite":

        @event.listens_for(storage.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        storage.engine.dispose()
    study = optuna.load_study(
        study_name=study.study_name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )

    def ask() -> float:
        start = time.perf_counter()
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        elapsed = time.perf_counter() - start
        study.tell(trial, 0.5)
        return elapsed

    first = ask()
    for _ in range(WARMUP - 1):
        ask()
    times = [ask() for _ in range(claims)]
    return first, statistics.median(times)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL to use")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    rows: list[tuple[int, dict[str, tuple[float, float]]]] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        dbs = Databases(Path(tmp_dir), args.postgres)
        try:
            for n in args.sizes:
                benches: dict[str, Callable[[], tuple[float, float]]] = {
                    "random": lambda n=n: bench_ours(n, args.claims, dbs, views=False),
                    "views": lambda n=n: bench_ours(n, args.claims, dbs, views=True),
                    "optuna": lambda n=n: bench_optuna(n, args.claims, dbs, tuned=False),
                    "optuna_wal": lambda n=n: bench_optuna(n, args.claims, dbs, tuned=True),
                }
                if args.postgres:
                    del benches["optuna_wal"]  # the pragmas are SQLite's
                figures = {name: bench() for name, bench in benches.items()}
                figures.setdefault("optuna_wal", figures["optuna"])
                rows.append((n, figures))
                print(f"measured {n} runs", flush=True)
        finally:
            dbs.drop_all()

    print()
    where = "PostgreSQL" if args.postgres else "SQLite file"
    print(f"median claim latency, ms ({where}, {args.claims} claims after {WARMUP} warm-up)")
    print(
        f"{'runs':>8} {'ours random':>12} {'ours views':>11} {'optuna ask':>11} "
        f"{'optuna WAL':>11} {'ratio random':>13} {'ratio views':>12} {'1st views':>10}"
    )
    for n, r in rows:
        print(
            f"{n:>8} {_ms(r['random'][1]):>12} {_ms(r['views'][1]):>11} "
            f"{_ms(r['optuna'][1]):>11} {_ms(r['optuna_wal'][1]):>11} "
            f"{r['random'][1] / r['optuna_wal'][1]:>13.2f} "
            f"{r['views'][1] / r['optuna_wal'][1]:>12.2f} {_ms(r['views'][0]):>10}"
        )
    base = rows[0][1]
    for n, r in rows[1:]:
        print(
            f"growth {rows[0][0]} -> {n}: ours random x{r['random'][1] / base['random'][1]:.2f}, "
            f"ours views x{r['views'][1] / base['views'][1]:.2f}, "
            f"optuna x{r['optuna'][1] / base['optuna'][1]:.2f}, "
            f"optuna WAL x{r['optuna_wal'][1] / base['optuna_wal'][1]:.2f}"
        )
    print("ratio = ours / optuna WAL (below 1: ours is faster); 1st views = a new agent's")
    print("first claim, which reads every run once (outside the write lock)")


if __name__ == "__main__":
    main()

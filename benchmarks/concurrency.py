"""Eight agents under faults, beside Optuna's ``study.optimize`` with eight processes.

A grid sweep of N short runs (a function sleeping 20 ms, no wandb) is run by 8 agent
processes on one database while a chaos loop sends random agents SIGKILL, SIGSTOP (resumed
after the heartbeat timeout, so their runs are reaped and fenced) and SIGTERM (their runs
are requeued), starting a fresh agent for each one that ends; on PostgreSQL the server is
also restarted once. Afterwards it checks that no point was lost or counted twice and that
no lock error or traceback was shown, and prints runs per second and the p50/p99 latency of
a claim, beside Optuna (8 processes running ``study.optimize`` with a GridSampler over the
same points, on the same kind of database, without faults; its latency is ``study.ask``'s).
A calm run of ours (no faults) is printed too, for a like-for-like ratio.

    python benchmarks/concurrency.py [--runs 2000] [--backend sqlite|postgres|both]

PostgreSQL needs the server binaries (``/usr/lib/postgresql/*/bin``); a private server is
started in a temporary directory.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

AGENTS = 8
HEARTBEAT_TIMEOUT = 3.0
RUN_SECONDS = 0.02
#: Lines of an agent's output that would mean a lock or database error reached the user.
BAD_OUTPUT = re.compile(r"Traceback|database is locked|deadlock detected|OperationalError")


def quick(config: dict[str, float]) -> float:
    """The benchmark's run: 20 ms of 'training', loss = x."""
    time.sleep(RUN_SECONDS)
    return float(config["x"])


# ------------------------------------------------------------------------ agent process


def agent_main(db: str, sweep_id: str, latency_file: str) -> None:
    """One agent process: ``localsweep.agent`` with every claim timed into ``latency_file``."""
    import localsweep
    from localsweep.agent import AgentInterrupted, AgentTerminated
    from localsweep.store import Store

    original = Store.claim_run
    out = open(latency_file, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    def timed(self: Store, *args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            out.write(f"{time.perf_counter() - start}\n")

    Store.claim_run = timed  # type: ignore[method-assign]
    try:
        localsweep.agent(sweep_id, function=quick, db=db)
    except AgentTerminated as exc:
        print(exc, flush=True)
        sys.exit(143)
    except AgentInterrupted as exc:
        print(exc, flush=True)
        sys.exit(130)


# ---------------------------------------------------------------------------- drivers


class PrivatePostgres:
    """A throwaway PostgreSQL server on 127.0.0.1 that the chaos loop may restart."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.base = Path(tempfile.mkdtemp(prefix="localsweep-bench-pg-"))
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.base, user="postgres", group="postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._pg("initdb", "-D", str(self.base / "data"), "-U", "bench", "--auth=trust")
        self.start()

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin / tool), *args], capture_output=True,
                       check=True, timeout=120)  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off "
            "-c max_connections=200"
        )
        self._pg("pg_ctl", "-D", str(self.base / "data"), "-l", str(self.base / "log"),
                 "-o", options, "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "stop")

    def database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="bench",
                             dbname="postgres", autocommit=True) as conn:  # fmt: skip
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://bench@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        subprocess.run([*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.base / "data"),
                        "-m", "immediate", "stop"], capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class Result:
    seconds: float
    runs: int
    latencies: list[float]
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _latencies(folder: Path) -> list[float]:
    out: list[float] = []
    for path in folder.glob("latency-*"):
        out += [float(line) for line in path.read_text().split() if line]
    return out


def run_ours(db: str, n: int, folder: Path, *, chaos: bool, pg: PrivatePostgres | None) -> Result:
    import localsweep

    grid = {"x": {"values": list(range(n))}}
    sweep_id = localsweep.sweep(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": grid}, db=db
    )
    env = dict(os.environ, LOCALSWEEP_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
               WANDB_MODE="offline", WANDB_SILENT="true")  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    counter = [0]

    def start() -> None:
        i = counter[0]
        counter[0] += 1
        log = folder / f"agent-{i}.log"
        with log.open("wb") as out:
            p = subprocess.Popen(
                [sys.executable, __file__, "--agent", db, sweep_id, str(folder / f"latency-{i}")],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=folder,
            )  # fmt: skip
        procs.append((p, log))

    rng = random.Random(0)
    events: list[str] = []
    t0 = time.perf_counter()
    for _ in range(AGENTS):
        start()
    stopped: dict[int, float] = {}
    restarted = pg is None
    next_event = time.monotonic() + 3.0
    deadline = time.monotonic() + 1800
    while any(p.poll() is None for p, _ in procs):
        now = time.monotonic()
        for pid, until in list(stopped.items()):
            if now >= until:
                os.kill(pid, signal.SIGCONT)
                del stopped[pid]
        if chaos and now >= next_event and len(events) < 12:
            alive = [p for p, _ in procs if p.poll() is None and p.pid not in stopped]
            if alive:
                victim = rng.choice(alive)
                sig = rng.choice([signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM])
                os.kill(victim.pid, sig)
                events.append(sig.name)
                if sig == signal.SIGSTOP:
                    stopped[victim.pid] = now + HEARTBEAT_TIMEOUT + 2
                else:
                    victim.wait()  # reap it: a zombie would look alive to the other agents
                    start()
            next_event = now + rng.uniform(1.0, 2.5)
        if chaos and not restarted and len(events) >= 4:
            assert pg is not None
            pg.stop()
            time.sleep(3)
            pg.start()
            events.append("database restart")
            restarted = True
        if now > deadline:
            raise SystemExit("the agents did not finish in 30 minutes")
        time.sleep(0.05)
    seconds = time.perf_counter() - t0

    problems: list[str] = []
    store_runs = localsweep.Api(db).sweep(sweep_id).runs
    finished = [int(r.config["x"]) for r in store_runs if r.state == "finished"]
    if sorted(finished) != list(range(n)):
        lost = sorted(set(range(n)) - set(finished))
        twice = sorted({x for x in finished if finished.count(x) > 1})
        problems.append(f"lost points {lost[:10]}, points counted twice {twice[:10]}")
    left = [r.id for r in store_runs if r.state == "running"]
    if left:
        problems.append(f"runs left running: {left}")
    for _, log in procs:
        for line in log.read_text(errors="replace").splitlines():
            if BAD_OUTPUT.search(line):
                problems.append(f"{log.name}: {line.strip()}")
    return Result(seconds, n, _latencies(folder), events, problems)


def run_optuna(storage: str, n: int, folder: Path) -> Result:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = "bench"
    optuna.create_study(study_name=name, storage=storage, direction="minimize")
    per = -(-n // AGENTS)
    t0 = time.perf_counter()
    procs = []
    for i in range(AGENTS):
        log = folder / f"optuna-{i}.log"
        with log.open("wb") as out:
            procs.append((subprocess.Popen(
                [sys.executable, __file__, "--optuna", storage, name, str(n), str(per),
                 str(folder / f"latency-{i}")],
                stdout=out, stderr=subprocess.STDOUT,
            ), log))  # fmt: skip
    for p, _ in procs:
        p.wait()
    seconds = time.perf_counter() - t0
    study = optuna.load_study(study_name=name, storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    problems = [
        f"{log.name}: {line.strip()}"
        for p, log in procs
        for line in log.read_text(errors="replace").splitlines()
        if BAD_OUTPUT.search(line)
    ][:5]
    return Result(seconds, len(done), _latencies(folder), [], problems)


def _line(label: str, r: Result) -> str:
    return (
        f"  {label:<28} {r.runs:>6} runs  {r.seconds:7.1f} s  {r.per_second:7.1f} runs/s  "
        f"claim p50 {r.quantile(0.5) * 1000:7.1f} ms  p99 {r.quantile(0.99) * 1000:7.1f} ms"
    )


def bench(backend: str, n: int) -> None:
    pg = PrivatePostgres() if backend == "postgres" else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            results: dict[str, Result] = {}
            for label, chaos in (("localsweep, calm", False), ("localsweep, faults", True)):
                folder = root / label.replace(", ", "-")
                folder.mkdir()
                db = pg.database(f"ls_{int(chaos)}") if pg else str(folder / "sweeps.db")
                results[label] = run_ours(db, n, folder, chaos=chaos, pg=pg)
            folder = root / "optuna"
            folder.mkdir()
            storage = pg.database("optuna") if pg else f"sqlite:///{folder / 'optuna.db'}"
            results["optuna study.optimize"] = run_optuna(storage, n, folder)
    finally:
        if pg is not None:
            pg.remove()
    print(f"\n{backend}: {n} runs of {RUN_SECONDS * 1000:.0f} ms, {AGENTS} processes")
    for label, r in results.items():
        print(_line(label, r))
    faults = results["localsweep, faults"]
    print(f"  faults injected: {', '.join(faults.events) or 'none'}")
    ours, peer = results["localsweep, calm"], results["optuna study.optimize"]
    print(
        f"  ratio (ours calm / Optuna): throughput {ours.per_second / peer.per_second:.2f}x, "
        f"claim p50 {ours.quantile(0.5) / peer.quantile(0.5):.2f}x, "
        f"p99 {ours.quantile(0.99) / peer.quantile(0.99):.2f}x"
    )
    for label, r in results.items():
        status = "no run lost or counted twice, no lock error shown"
        print(f"  {label}: " + ("; ".join(r.problems[:5]) if r.problems else status))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--agent":
        agent_main(*sys.argv[2:5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--optuna":
        storage, name, n, per, latency = sys.argv[2:7]
        os.environ.setdefault("PYTHONHASHSEED", "0")
        optuna_main_n(storage, name, int(n), int(per), latency)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        bench(backend, args.runs)


def optuna_main_n(storage: str, name: str, n: int, per: int, latency: str) -> None:
    """An Optuna worker over the grid of ``n`` points, running ``per`` trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=optuna.samplers.GridSampler({"x": list(range(n))}, seed=0),
    )
    out = open(latency, "a", buffering=1)  # noqa: SIM115
    ask = study.ask

    def timed_ask(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return ask(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            out.write(f"{time.perf_counter() - start}\n")

    study.ask = timed_ask  # type: ignore[method-assign]

    def objective(trial: optuna.Trial) -> float:
        return quick({"x": trial.suggest_int("x", 0, n - 1)})

    study.optimize(objective, n_trials=per)


if __name__ == "__main__":
    main()

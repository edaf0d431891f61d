"""CPU time of localsweep's quick commands and of an agent's way to its first claim, beside
``wandb --help`` and ``optuna --help`` measured in the same run.

CPU time (user + system of the child process), not wall time, so that other work on the
machine changes the figures little. Each command runs ``--repeat`` times; the median is
printed, with the ratio to each peer. Goals (issue 12): at most 0.3 s for ``--help`` and
``validate``, at most 1 s to an agent's first claim.

    python benchmarks/startup.py [--repeat 5]

The agent's figure is read inside the agent process: its training function, called right
after the first claim, records the process's CPU time so far and returns.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "quickstart" / "sweep.yaml"

PROBE = """\
import os, resource


def train(config):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["STARTUP_PROBE_OUT"], "a") as out:
        out.write(f"{usage.ru_utime + usage.ru_stime}\\n")
    return 1.0
"""

RANDOM = "method: random\nmetric: {name: loss}\nparameters:\n  x: {distribution: normal}\n"
BAYES = "method: bayes\nmetric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n"


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{workdir}"
    env.pop("LOCALSWEEP_DB", None)
    return env


def cpu_of(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """User + system CPU seconds of one run of ``argv`` (and of its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_cpu(argv: list[str], cwd: Path, env: dict[str, str], repeat: int) -> float:
    return statistics.median(cpu_of(argv, cwd, env) for _ in range(repeat))


def agent_first_claim(config: str, cwd: Path, env: dict[str, str], repeat: int) -> float:
    """CPU seconds an agent process spends before its first run starts."""
    (cwd / "sweep.yaml").write_text(config)
    db = cwd / f"startup-{abs(hash(config))}.db"
    localsweep = [sys.executable, "-m", "localsweep.cli"]
    sweep_id = subprocess.run(
        [*localsweep, "sweep", "sweep.yaml", "--db", str(db)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = cwd / "probe.txt"
    out.unlink(missing_ok=True)
    probe_env = {**env, "STARTUP_PROBE_OUT": str(out)}
    for _ in range(repeat):
        subprocess.run(
            [
                *localsweep,
                "agent",
                sweep_id,
                "--db",
                str(db),
                "-f",
                "probe:train",
                "--count=1",
                "-q",
            ],
            cwd=cwd,
            env=probe_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    return statistics.median(float(line) for line in out.read_text().split())


def peer(name: str) -> list[str] | None:
    path = shutil.which(name)
    return [path, "--help"] if path else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "probe.py").write_text(PROBE)
        env = _env(cwd)
        localsweep = [sys.executable, "-m", "localsweep.cli"]
        subprocess.run(
            [*localsweep, "sweep", str(CONFIG), "--db", "ls.db"],
            cwd=cwd,
            env=env,
            capture_output=True,
            check=True,
        )
        peers = {
            name: median_cpu(argv, cwd, env, args.repeat)
            for name in ("wandb", "optuna")
            if (argv := peer(name)) is not None
        }
        ours = {
            "localsweep --help": median_cpu([*localsweep, "--help"], cwd, env, args.repeat),
            "localsweep validate": median_cpu(
                [*localsweep, "validate", str(CONFIG)], cwd, env, args.repeat
            ),
            "localsweep ls": median_cpu(
                [*localsweep, "ls", "--db", "ls.db"], cwd, env, args.repeat
            ),
            "agent to first claim (random)": agent_first_claim(RANDOM, cwd, env, args.repeat),
            "agent to first claim (bayes)": agent_first_claim(BAYES, cwd, env, args.repeat),
        }
    print(f"CPU seconds, median of {args.repeat} runs each (user + system)")
    for name, seconds in peers.items():
        print(f"  {name + ' --help':34} {seconds:6.3f}")
    for name, seconds in ours.items():
        ratios = "  ".join(f"{seconds / p:5.2f}x {n}" for n, p in peers.items())
        print(f"  {name:34} {seconds:6.3f}   {ratios}")


if __name__ == "__main__":
    main()

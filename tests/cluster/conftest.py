"""A real one-node SLURM cluster for the tests, started once per session.

Debian's ``slurm-wlm`` and ``munge`` packages (``.ci/run`` installs them) run a whole
cluster on the test machine: ``munged`` as the munge user with a throwaway key and socket,
then ``slurmctld`` and ``slurmd`` as root with a minimal ``slurm.conf`` generated in a temp
dir (Linux process tracking, no cgroups, no accounting, one node named after this host with
its CPUs (at least 4), one partition). Nothing of the machine's own SLURM or munge
configuration is read or changed. Tests that need it skip, saying why, where the binaries
are absent or we are not root. The daemons are stopped when the session ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "scancel")


@dataclass
class SlurmCluster:
    """A running one-node cluster: ``env`` holds ``SLURM_CONF`` for its client commands."""

    base: Path
    node: str
    partition: str
    cpus: int
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a SLURM client command (``squeue``, ``scontrol``...) against this cluster."""
        return subprocess.run(
            list(args),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def job_states(self, job_id: str) -> dict[str, str]:
        """Each task of a job (``"12_0"``...) and its state, while slurmctld remembers it."""
        out = self.run("squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%i %T").stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def wait_job(self, job_id: str, timeout: float = 240.0) -> dict[str, str]:
        """Wait until every task of ``job_id`` has ended; their final states."""
        deadline = time.monotonic() + timeout
        ended = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OOM"}
        while True:
            states = self.job_states(job_id)
            if states and all(s in ended for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} did not end in {timeout} s: {states}")
            time.sleep(1.0)

    def log(self, name: str) -> str:
        """A daemon's log (``slurmctld``, ``slurmd``, ``munged``), for failure messages."""
        path = self.base / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: object, what: str, timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                for p in sorted(logs.glob("*.log"))
            )
            raise RuntimeError(f"SLURM test cluster: {what} not ready in {timeout} s\n{tails}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _slurm_conf(base: Path, node: str, cpus: int, munge_socket: Path) -> str:
    return f"""\
ClusterName=localsweep-test
SlurmctldHost={node}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/slurmctld.log
SlurmdLogFile={base}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
InactiveLimit=0
KillWait=30
PlugStackConfig={base}/plugstack.conf
SlurmdParameters=config_overrides
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd (see the module docstring); stop them at the end."""
    missing = [b for b in _BINARIES if shutil.which(b) is None]
    if missing:
        pytest.skip(
            f"no SLURM here ({', '.join(missing)} not found): "
            "apt-get install slurm-wlm munge (as .ci/run does)"
        )
    if os.geteuid() != 0:
        pytest.skip("the SLURM test cluster runs its daemons as root (slurmd, munged's key)")

    base = Path(tempfile.mkdtemp(prefix="localsweep-slurm-"))
    base.chmod(0o755)  # munged, as the munge user, must reach its own folder inside
    for sub in ("state", "spool"):
        (base / sub).mkdir()
    (base / "plugstack.conf").write_text("")
    munge_dir = base / "munge"
    munge_dir.mkdir(mode=0o700)
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    shutil.chown(munge_dir, user="munge", group="munge")
    shutil.chown(key, user="munge", group="munge")
    munge_socket = munge_dir / "munge.socket"
    munge_log = base / "munged.log"
    munge_log.touch()
    shutil.chown(munge_log, user="munge", group="munge")

    node = socket.gethostname().split(".")[0]
    # At least 4 CPUs, so that the tests' 3-task arrays run side by side even on a 2-core
    # machine (config_overrides lets slurmd offer more CPUs than it counts).
    cpus = max(os.cpu_count() or 1, 4)
    conf = base / "slurm.conf"
    conf.write_text(_slurm_conf(base, node, cpus, munge_socket))
    cluster = SlurmCluster(base=base, node=node, partition="debug", cpus=cpus)
    cluster.env = {"SLURM_CONF": str(conf)}

    daemons: list[subprocess.Popen[bytes]] = []
    try:
        daemons.append(
            subprocess.Popen(
                [
                    "runuser",
                    "-u",
                    "munge",
                    "--",
                    "munged",
                    "--foreground",
                    "--force",
                    f"--key-file={key}",
                    f"--socket={munge_socket}",
                    f"--pid-file={munge_dir}/munged.pid",
                    f"--log-file={munge_log}",
                    f"--seed-file={munge_dir}/munged.seed",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        )
        _wait(munge_socket.exists, "munged", 30, base)
        daemons.append(
            subprocess.Popen(
                ["slurmctld", "-D", "-c", "-i", "-f", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        )
        daemons.append(
            subprocess.Popen(
                ["slurmd", "-D", "-f", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        )

        def node_idle() -> bool:
            out = cluster.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            return out in ("idle", "mix", "alloc")

        _wait(node_idle, "node", 90, base)
        yield cluster
    finally:
        if daemons:
            # Cancel what the tests left, so no job step outlives the daemons.
            subprocess.run(
                ["scancel", "--full", "--partition", cluster.partition],
                env={**os.environ, **cluster.env},
                capture_output=True,
                timeout=60,
                check=False,
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                left = cluster.run("squeue", "-h", "-o", "%i", check=False).stdout.strip()
                if not left:
                    break
                time.sleep(1.0)
        for process in reversed(daemons):
            _stop(process)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def slurm(slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """The session's cluster, with ``SLURM_CONF`` set for this test's commands."""
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    return slurm_cluster

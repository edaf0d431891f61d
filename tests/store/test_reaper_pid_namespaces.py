"""An agent in another pid namespace (a container sharing the host name: ``docker run
--hostname``, ``--network host``, replicas of one pod name) has pids that mean nothing
here. Agents used to judge each other by pid whenever their host names matched, so an agent
on the host took a container agent's live run for dead at once (its pid, say 30000, is no
process on the host) and its result was thrown away. The pid shortcut now needs the same
host name, boot and pid namespace; any other agent is judged by its heartbeat."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localsweep.config import SweepConfig
from localsweep.records import RunState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, Store, _reaper, _records
from localsweep.store._records import process_space

Claimer = Callable[..., Claim]

#: The claiming script run inside the new pid namespace: claims one run, says which and
#: under which pid, then keeps its process (and so its run) alive until killed.
_CONTAINED_AGENT = textwrap.dedent(
    """
    import random, sys, time
    from localsweep.search import make_search
    from localsweep.store import AgentInfo, Store
    store = Store(sys.argv[1])
    config = store.get_sweep(sys.argv[2]).config
    search = make_search(config)
    agent = AgentInfo.current()
    claim = store.claim_run(
        sys.argv[2], agent, lambda runs, n: search.propose(runs, random.Random(n)),
        nest=config.nest,
    )
    print(claim.run.id if claim.run else claim.outcome, agent.pid, flush=True)
    time.sleep(600)
    """
)


def _unshare() -> str:
    tool = shutil.which("unshare")
    if tool is None:
        pytest.skip("util-linux's unshare is not installed")
    probe = subprocess.run(
        [tool, "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"this machine cannot make a pid namespace: {probe.stderr.decode().strip()}")
    return tool


def _dead_pid() -> int:
    """The pid of a process of this namespace that has ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _free_pid() -> int:
    """A pid no process has on this host (the container agent will be given it)."""
    top = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in range(min(top, 32768) - 100, 300, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    pytest.skip("no free pid on this host")


@pytest.fixture
def contained_claim(tmp_path: Path) -> Iterator[Callable[[str, str], tuple[str, int]]]:
    """``contained_claim(url, sweep_id)``: a real process in a new pid namespace (same host
    name, as a container sharing it) claims a run of the sweep and stays alive; returns
    the run id and the agent's pid inside the namespace (a pid free on this host)."""
    tool = _unshare()
    script = tmp_path / "contained_agent.py"
    script.write_text(_CONTAINED_AGENT)
    started: list[subprocess.Popen[str]] = []

    def start(url: str, sweep_id: str) -> tuple[str, int]:
        pid = _free_pid()
        # sh's next child gets ns_last_pid + 1 inside the new namespace.
        shell = f'echo {pid - 1} > /proc/sys/kernel/ns_last_pid; "$0" "$1" "$2" "$3"'
        command = [tool, "--pid", "--fork", "--mount-proc", "sh", "-c", shell]
        proc = subprocess.Popen(
            [*command, sys.executable, str(script), url, sweep_id],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        run_id, inner_pid = proc.stdout.readline().split()
        return run_id, int(inner_pid)

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_a_live_run_of_an_agent_in_another_pid_namespace_is_not_reaped(
    tmp_path: Path,
    claim: Claimer,
    grid: Callable[..., SweepConfig],
    contained_claim: Callable[[str, str], tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(str(tmp_path / "sweeps.db"))
    try:
        sweep = store.create_sweep(grid(6))
        run_id, inner_pid = contained_claim(store.url, sweep.id)
        with pytest.raises(ProcessLookupError):
            os.kill(inner_pid, 0)  # the container agent's pid is no process here
        held = store.get_run(run_id)
        assert held.agent_host is not None and held.agent_host.split()[0] == os.uname().nodename

        monkeypatch.setattr(_reaper, "REAP_INTERVAL", 0.0)
        looked = claim(store, sweep.id, AgentInfo.current())

        assert looked.outcome is ClaimOutcome.CLAIMED
        assert run_id not in looked.reaped
        assert store.get_run(run_id).state is RunState.RUNNING
    finally:
        store.close()


def test_an_agent_of_this_process_space_is_still_judged_by_its_pid(
    tmp_path: Path,
    claim: Claimer,
    grid: Callable[..., SweepConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dead agent of this host, boot and namespace is reaped at once, as before."""
    gone = AgentInfo(id="gone", host=process_space(), pid=_dead_pid())
    store = Store(str(tmp_path / "sweeps.db"))
    try:
        sweep = store.create_sweep(grid(6))
        held = claim(store, sweep.id, gone).run
        assert held is not None
        monkeypatch.setattr(_reaper, "REAP_INTERVAL", 0.0)
        looked = claim(store, sweep.id, AgentInfo.current())
        assert looked.reaped == (held.id,)
        assert store.get_run(held.id).end_reason == "agent_died"
    finally:
        store.close()


def test_the_process_space_names_host_namespace_and_boot() -> None:
    space = process_space().split()
    assert space[0] == os.uname().nodename[:190]
    if Path("/proc/self/ns/pid").exists():
        assert f"pidns:{os.stat('/proc/self/ns/pid').st_ino}" in space
    if Path("/proc/sys/kernel/random/boot_id").exists():
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        assert f"boot:{boot}" in space
    assert len(" ".join(space)) <= 256


def test_without_proc_an_agent_is_never_judged_by_its_pid(
    tmp_path: Path,
    claim: Claimer,
    grid: Callable[..., SweepConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``/proc`` (a container that does not mount it) the namespace and the boot
    are unknown: two agents in containers of one host name recorded the same bare name and
    reaped each other's live runs by pids of the other namespace."""
    monkeypatch.setattr(_records, "_read_first_line", lambda path: "")
    other = AgentInfo(id="other-container", host=process_space(), pid=_dead_pid())
    assert other.host.split()[1].startswith("unknown:")
    store = Store(str(tmp_path / "sweeps.db"))
    try:
        sweep = store.create_sweep(grid(6))
        held = claim(store, sweep.id, other).run
        assert held is not None
        monkeypatch.setattr(_reaper, "REAP_INTERVAL", 0.0)
        looked = claim(store, sweep.id, AgentInfo.current())  # also without /proc
        assert held.id not in looked.reaped
        assert store.get_run(held.id).state is RunState.RUNNING  # its heartbeat decides
    finally:
        store.close()


def test_on_a_system_without_pid_namespaces_the_host_name_is_the_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """macOS has no /proc and no pid namespaces: its agents were all "unknown", so a killed
    agent's run waited out the heartbeat timeout instead of being reaped at once."""
    monkeypatch.setattr(_records.sys, "platform", "darwin")
    assert process_space() == os.uname().nodename[:190]
    assert process_space() == process_space()

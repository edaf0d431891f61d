"""A container run under a user ID of its own with HOME unset (``docker run -u 12345``
started through ``env -i``, OpenShift's random UIDs, some batch systems) has no home folder:
wandb cannot find its settings folder, and ``wandb.init`` fails. localsweep ended
``localsweep sweep`` and ``localsweep.run`` in a traceback there, failed an agent's runs one
by one (each grid point used up), and a program's ``wandb.init`` went on with wandb's
settings half read: online, the sweep's run id ignored, and wandb's telemetry sent. Now a
sweep is made, an agent stops before its first claim saying what to set, and ``HOME`` or
``WANDB_CONFIG_DIR`` makes it all work.

The tests take the home away as such a container has it: ``HOME`` unset, and the user ID
(root's here) missing from ``/etc/passwd`` (a copy without it, and an ``nsswitch.conf``
that reads only the files, bind-mounted in a mount namespace of the test's own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CONFIG = (
    "method: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n  lr: {values: [0.1, 0.01]}\n"
)
TRAIN = """
import wandb
def train():
    with wandb.init() as run:
        run.log({"loss": run.config["lr"]})
"""
RUN = """
import localsweep
from train import train
localsweep.run("s.yaml", train, count=2, db="r.db")
"""


@pytest.fixture
def homeless(tmp_path: Path) -> Path:
    """A passwd file without this user's entry; skips where no mount namespace can be made."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here to hide the passwd entry: {probe.stderr!r}")
    uid = str(os.getuid())
    lines = Path("/etc/passwd").read_text().splitlines()
    passwd = tmp_path / "passwd"
    passwd.write_text("".join(f"{line}\n" for line in lines if line.split(":")[2:3] != [uid]))
    # Only the files: systemd's NSS module makes up an entry for root whatever they say.
    nss = Path("/etc/nsswitch.conf")
    conf = nss.read_text() if nss.exists() else ""
    kept = [line for line in conf.splitlines() if not line.startswith("passwd:")]
    (tmp_path / "nsswitch.conf").write_text("\n".join([*kept, "passwd: files"]) + "\n")
    (tmp_path / "s.yaml").write_text(CONFIG)
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "run.py").write_text(RUN)
    return passwd


def _without_home(
    work: Path, passwd: Path, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``command`` run in ``work`` with no home folder: HOME unset, no passwd entry."""
    full = {k: v for k, v in os.environ.items() if k not in ("HOME", "LOCALSWEEP_DB")}
    full.update(env or {})
    script = (
        'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/nsswitch.conf && shift 2 && '
        'exec "$@"'
    )
    nss = passwd.with_name("nsswitch.conf")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(passwd), str(nss), *command],
        capture_output=True,
        text=True,
        cwd=work,
        env=full,
        timeout=300,
        check=False,
    )


def _cli(
    work: Path, passwd: Path, *args: str, **kw: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return _without_home(work, passwd, sys.executable, "-m", "localsweep.cli", *args, **kw)


def test_the_passwd_entry_is_really_gone(tmp_path: Path, homeless: Path) -> None:
    probe = _without_home(
        tmp_path, homeless, sys.executable, "-c", "import pathlib; pathlib.Path('~').expanduser()"
    )
    assert "Could not determine home directory" in probe.stderr


def test_an_agent_without_a_home_stops_before_its_first_run_naming_the_fix(
    tmp_path: Path, homeless: Path
) -> None:
    made = _cli(tmp_path, homeless, "sweep", "s.yaml", "--db", "s.db")
    assert made.returncode == 0, made.stderr  # making a sweep needs no home
    sweep_id = made.stdout.split()[-1]

    agent = _cli(tmp_path, homeless, "agent", sweep_id, "--db", "s.db", "--function", "train:train")

    assert agent.returncode != 0
    assert "Traceback" not in agent.stderr
    assert "HOME is not set" in agent.stderr
    assert "export HOME=$PWD" in agent.stderr and "WANDB_CONFIG_DIR" in agent.stderr
    shown = _cli(tmp_path, homeless, "show", sweep_id, "--db", "s.db")
    assert "0 runs" in shown.stdout or "no runs" in shown.stdout.lower(), shown.stdout


def test_localsweep_run_without_a_home_raises_the_same_and_makes_no_database(
    tmp_path: Path, homeless: Path
) -> None:
    ran = _without_home(tmp_path, homeless, sys.executable, "run.py")
    assert ran.returncode != 0
    assert "HOME is not set" in ran.stderr
    assert "Could not determine home directory" not in ran.stderr
    assert not (tmp_path / "r.db").exists()  # refused before the database was made


@pytest.mark.parametrize("mode", ["function", "program"])
def test_with_wandb_config_dir_every_run_finishes_without_a_home(
    tmp_path: Path, homeless: Path, mode: str
) -> None:
    settings = tmp_path / "wandb-settings"
    settings.mkdir()
    env = {"WANDB_CONFIG_DIR": str(settings)}
    if mode == "program":
        (tmp_path / "prog.py").write_text("from train import train\ntrain()\n")
        (tmp_path / "s.yaml").write_text(CONFIG + "program: prog.py\n")
    made = _cli(tmp_path, homeless, "sweep", "s.yaml", "--db", "s.db", env=env)
    sweep_id = made.stdout.split()[-1]
    extra = ["--function", "train:train"] if mode == "function" else []
    agent = _cli(tmp_path, homeless, "agent", sweep_id, "--db", "s.db", *extra, env=env)
    assert agent.returncode == 0, agent.stderr
    shown = _cli(tmp_path, homeless, "show", sweep_id, "--db", "s.db", env=env)
    assert shown.stdout.count("finished") >= 2, shown.stdout


def test_a_wandb_that_cannot_read_its_settings_is_not_left_half_read(
    tmp_path: Path, homeless: Path
) -> None:
    # What a program-mode child's wandb.init goes through first (localsweep's boot code):
    # wandb kept its settings half read (online, every WANDB_* variable ignored), and the
    # next wandb.init took them and sent wandb's telemetry.
    probe = (
        "from localsweep.wandb_bridge import _forced_offline as f\n"
        "from wandb.sdk import wandb_setup\n"
        "f._setup_offline()\n"
        "print('settings kept:', wandb_setup.singleton().settings_if_loaded is not None)\n"
    )
    checked = _without_home(tmp_path, homeless, sys.executable, "-c", probe)
    assert "settings kept: False" in checked.stdout, checked.stdout + checked.stderr

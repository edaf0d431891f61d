"""A SQLite file on a network file system is refused, found from the kernel's mount table.

No NFS, Lustre or CIFS mount can be made here, so the detection is tested on mount tables
written as the kernel writes them (``/proc/self/mountinfo`` and ``/proc/mounts``), and the
refusal end to end by pointing the store at such a table; a local path is tested for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from localsweep.cli import cli
from localsweep.config import parse_config
from localsweep.errors import NetworkFilesystemError
from localsweep.store import Store, _netfs
from localsweep.store._netfs import (
    check_sqlite_location,
    find_mount,
    network_mount,
    parse_mount_table,
)

# A login node: root on ext4, homes on NFS, scratch on Lustre, a project share on SMB with a
# space in its name, a node-local disk under an NFS home, CephFS through FUSE.
MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 253:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 27 0:24 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw
41 27 0:45 / /home rw,relatime shared:20 - nfs4 fs01:/export/home rw,vers=4.2
42 41 253:3 / /home/alice/local rw,relatime shared:21 - xfs /dev/sdb1 rw
43 27 0:46 / /scratch rw,relatime shared:22 master:3 - lustre 10.0.0.5@o2ib:/scratch rw,flock
44 27 0:47 / /mnt/team\040share rw,relatime shared:23 - cifs //nas/team rw,vers=3.1.1
45 27 0:48 / /cephfs rw,relatime shared:24 - fuse.ceph-fuse ceph-fuse rw
"""

PROC_MOUNTS = """/dev/sda1 / ext4 rw,relatime 0 0
fs01:/export/home /home nfs rw,vers=3 0 0
gpfs1 /gpfs gpfs rw,relatime 0 0
beegfs_nodev /beegfs beegfs rw,relatime 0 0
"""


def test_a_file_under_an_nfs_home_is_on_nfs() -> None:
    mount = network_mount("/home/alice/sweeps.db", parse_mount_table(MOUNTINFO))
    assert mount is not None
    assert (mount.fstype, mount.mount_point, mount.source) == ("nfs4", "/home", "fs01:/export/home")


def test_the_innermost_mount_decides() -> None:
    mounts = parse_mount_table(MOUNTINFO)
    assert find_mount("/home/alice/local/sweeps.db", mounts).fstype == "xfs"  # type: ignore[union-attr]
    assert network_mount("/home/alice/local/sweeps.db", mounts) is None
    assert network_mount("/tmp/sweeps.db", mounts) is None
    assert network_mount("/opt/sweeps.db", mounts) is None  # on the root's ext4


@pytest.mark.parametrize(
    ("path", "fstype"),
    [
        ("/scratch/u/sweeps.db", "lustre"),
        ("/mnt/team share/sweeps.db", "cifs"),
        ("/cephfs/sweeps.db", "fuse.ceph-fuse"),
    ],
)
def test_lustre_smb_and_cephfs_mounts_in_mountinfo_are_network_file_systems(
    path: str, fstype: str
) -> None:
    mount = network_mount(path, parse_mount_table(MOUNTINFO))
    assert mount is not None and mount.fstype == fstype


@pytest.mark.parametrize(
    ("path", "fstype"),
    [("/home/bob/s.db", "nfs"), ("/gpfs/p/s.db", "gpfs"), ("/beegfs/s.db", "beegfs")],
)
def test_the_proc_mounts_format_is_read_too(path: str, fstype: str) -> None:
    mount = network_mount(path, parse_mount_table(PROC_MOUNTS))
    assert mount is not None and mount.fstype == fstype
    assert network_mount("/var/s.db", parse_mount_table(PROC_MOUNTS)) is None


def test_an_automounted_home_is_found_under_its_autofs_mount() -> None:
    table = parse_mount_table(
        "27 1 253:1 / / rw - ext4 /dev/sda1 rw\n"
        "60 27 0:60 / /home rw,relatime - autofs auto.home rw,fd=7,direct\n"
        "61 60 0:61 / /home/alice rw,relatime - nfs4 fs01:/export/alice rw\n"
    )
    mount = network_mount("/home/alice/sweeps.db", table)
    assert mount is not None and mount.mount_point == "/home/alice"
    assert network_mount("/home/bob/sweeps.db", table) is None  # not mounted: autofs only


def test_a_symbolic_link_into_a_network_mount_is_followed(tmp_path: Path) -> None:
    (tmp_path / "results").symlink_to("/home/alice/results")
    mounts = parse_mount_table(MOUNTINFO)
    mount = network_mount(tmp_path / "results" / "sweeps.db", mounts)
    assert mount is not None and mount.fstype == "nfs4"


def test_the_refusal_says_why_and_points_to_postgresql() -> None:
    with pytest.raises(NetworkFilesystemError) as info:
        check_sqlite_location("/scratch/u/sweeps.db", parse_mount_table(MOUNTINFO))
    message = str(info.value)
    assert "lustre" in message and "/scratch" in message
    assert "locking" in message
    assert "PostgreSQL" in message and "postgresql+psycopg://" in message
    assert "--allow-network-fs" in message and "LOCALSWEEP_ALLOW_NETWORK_FS=1" in message


def test_the_environment_variable_lets_someone_who_knows_better_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCALSWEEP_ALLOW_NETWORK_FS", "1")
    check_sqlite_location("/scratch/u/sweeps.db", parse_mount_table(MOUNTINFO))


def test_a_local_path_on_this_machine_is_accepted(tmp_path: Path) -> None:
    # The real mount table: the test's temporary folder is on a local disk here.
    assert network_mount(tmp_path / "sweeps.db") is None
    store = Store(tmp_path / "sweeps.db")
    store.close()
    assert (tmp_path / "sweeps.db").is_file()


def _as_network_fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this machine's mount table say that ``tmp_path`` is an NFS mount."""
    table = tmp_path.parent / f"{tmp_path.name}-mountinfo"
    table.write_text(
        "27 1 253:1 / / rw - ext4 /dev/sda1 rw\n"
        f"50 27 0:50 / {tmp_path} rw - nfs4 fs01:/export/work rw\n"
    )
    monkeypatch.setattr(_netfs, "_MOUNT_TABLES", (str(table),))


def test_the_store_refuses_a_sqlite_file_on_nfs_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as_network_fs(tmp_path, monkeypatch)
    with pytest.raises(NetworkFilesystemError):
        Store(tmp_path / "db" / "sweeps.db")
    assert not (tmp_path / "db").exists()


def test_the_command_line_refuses_with_exit_code_2_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as_network_fs(tmp_path, monkeypatch)
    (tmp_path / "s.yaml").write_text("method: grid\nparameters:\n  x: {values: [1, 2]}\n")
    refused = CliRunner().invoke(cli, ["sweep", "s.yaml"])
    assert refused.exit_code == 2, refused.output
    assert "network file system" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "localsweep.db").exists()

    # The flag sets the variable for the agents' children; monkeypatch restores it after.
    monkeypatch.setenv("LOCALSWEEP_ALLOW_NETWORK_FS", "0")
    allowed = CliRunner().invoke(cli, ["sweep", "--allow-network-fs", "s.yaml"])
    assert allowed.exit_code == 0, allowed.output
    assert (tmp_path / "localsweep.db").is_file()


def test_every_command_takes_allow_network_fs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as_network_fs(tmp_path, monkeypatch)
    monkeypatch.setenv("LOCALSWEEP_ALLOW_NETWORK_FS", "1")
    store = Store(tmp_path / "localsweep.db")
    sweep = store.create_sweep(parse_config({"method": "grid", "parameters": {"x": {"value": 1}}}))
    store.close()
    monkeypatch.setenv("LOCALSWEEP_ALLOW_NETWORK_FS", "0")
    commands = (
        ["ls"],
        ["show", sweep.id],
        ["export", sweep.id, "--format", "json"],
        ["sync", sweep.id, "--dry-run"],
    )
    for args in commands:
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code != 0 and "network file system" in refused.output, args
        monkeypatch.setenv("LOCALSWEEP_ALLOW_NETWORK_FS", "0")
        allowed = CliRunner().invoke(cli, [*args, "--allow-network-fs"])
        assert allowed.exit_code == 0, (args, allowed.output)
        monkeypatch.setenv("LOCALSWEEP_ALLOW_NETWORK_FS", "0")

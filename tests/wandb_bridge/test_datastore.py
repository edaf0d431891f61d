"""The reader of wandb's offline ``run-<id>.wandb`` files, against files real wandb wrote.

Every run here is made by wandb 0.31 in a child process, offline; damaged and torn files
are copies of those, cut or with one byte flipped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logfile_helpers import Chunk, chunk_layout
from wandb.proto import wandb_internal_pb2 as pb

from localsweep.errors import LocalsweepError
from localsweep.wandb_bridge._datastore import (
    CorruptFileError,
    RecordReader,
    RunFileFollower,
    RunFileSummary,
    find_run_file,
    read_run_file,
    wait_for_exit_record,
)

FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# Keys wandb adds to every row whose values depend on the clock.
CLOCK_KEYS = ("_runtime", "_timestamp")
# A child that never gets what it waits for gives up after this long, so no test hangs.
CHILD_TIMEOUT = 120.0


def all_records(path: Path) -> list[Any]:
    with RecordReader(path) as reader:
        return reader.read_new()


def without_clock(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in CLOCK_KEYS}


def start_child(directory: Path, source: str, *args: str) -> subprocess.Popen[bytes]:
    script = directory / "child.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=directory,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def reap() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Children registered here are killed at the end of the test if still running."""
    children: list[subprocess.Popen[bytes]] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def wait_for_run_file(wandb_dir: Path, child: subprocess.Popen[bytes]) -> Path:
    """The run file of the child's run, once wandb has created it."""
    while child.poll() is None:
        for run_dir in (wandb_dir / "wandb").glob("offline-run-*"):
            found = find_run_file(run_dir)
            if found is not None:
                return found
        time.sleep(0.02)
    raise AssertionError(f"child exited before creating a run: {child.stderr.read()!r}")  # type: ignore[union-attr]


def follow_until(
    follower: RunFileFollower, child: subprocess.Popen[bytes], rows: int
) -> list[dict[str, Any]]:
    """Poll until at least ``rows`` rows were read while the child still runs."""
    seen: list[dict[str, Any]] = []
    while len(seen) < rows:
        assert child.poll() is None, "child ended before its rows could be followed"
        seen += follower.poll()
        time.sleep(0.02)
    return seen


def copy_with(tmp_path: Path, source: Path, data: bytes) -> Path:
    path = tmp_path / source.name
    path.write_bytes(data)
    return path


# --- A finished run ------------------------------------------------------------------------


@pytest.mark.slow
def test_finished_run_has_every_logged_row_in_order(
    offline_run_file: Path, offline_run_expected: dict[str, Any]
) -> None:
    history = read_run_file(offline_run_file).history
    assert [without_clock(row) for row in history] == offline_run_expected["rows"]


@pytest.mark.slow
def test_every_row_carries_wandbs_clock_keys(offline_run_file: Path) -> None:
    history = read_run_file(offline_run_file).history
    assert all(isinstance(row[key], float) for row in history for key in CLOCK_KEYS)


@pytest.mark.slow
def test_finished_run_config_is_nested_plain_values_without_wandb_internals(
    offline_run_file: Path, offline_run_expected: dict[str, Any]
) -> None:
    assert read_run_file(offline_run_file).config == offline_run_expected["config"]


@pytest.mark.slow
def test_summary_holds_user_updates_and_drops_removed_keys(offline_run_file: Path) -> None:
    summary = read_run_file(offline_run_file).summary
    assert summary["x"] == 7.5
    assert summary["best"] == {"loss": 0.02, "at": 149}
    assert summary["note"] == "done"
    assert "gone" not in summary


@pytest.mark.slow
def test_summary_holds_the_last_value_of_each_logged_metric(offline_run_file: Path) -> None:
    state = read_run_file(offline_run_file)
    last = state.history[-1]
    assert state.summary["loss"] == last["loss"]
    assert state.summary["_step"] == last["_step"]
    # Logged only in the first rows, so its summary is its last logged value, nested.
    assert state.summary["grad"] == state.history[19]["grad"]


@pytest.mark.slow
def test_finished_run_has_exit_code_zero(offline_run_file: Path) -> None:
    state = read_run_file(offline_run_file)
    assert (state.finished, state.exit_code) == (True, 0)


@pytest.mark.slow
def test_run_identity_comes_from_the_run_record(
    offline_run_file: Path, offline_run_expected: dict[str, Any]
) -> None:
    state = read_run_file(offline_run_file)
    assert (state.run_id, state.project, state.sweep_id) == (
        offline_run_expected["run_id"],
        offline_run_expected["project"],
        None,
    )


@pytest.mark.slow
def test_find_run_file_returns_the_wandb_file_of_a_run_folder(offline_run_file: Path) -> None:
    assert find_run_file(offline_run_file.parent) == offline_run_file


def test_find_run_file_returns_none_for_a_folder_without_one(tmp_path: Path) -> None:
    assert find_run_file(tmp_path) is None
    assert find_run_file(tmp_path / "missing") is None


@pytest.mark.slow
def test_reading_an_unchanged_file_again_returns_nothing(offline_run_file: Path) -> None:
    with RecordReader(offline_run_file) as reader:
        assert reader.read_new()
        assert reader.read_new() == []


@pytest.mark.slow
def test_wait_for_exit_record_returns_a_finished_runs_summary(offline_run_file: Path) -> None:
    state = wait_for_exit_record(offline_run_file, timeout=30)
    assert state == read_run_file(offline_run_file)


# --- A file that grows ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("step", [1, 997, 40_000])
def test_a_file_read_while_it_grows_yields_every_record_once(
    offline_run_file_with_large_config: Path, tmp_path: Path, step: int
) -> None:
    data = offline_run_file_with_large_config.read_bytes()
    growing = tmp_path / "run-growing.wandb"
    growing.write_bytes(b"")
    got: list[Any] = []
    with RecordReader(growing) as reader, growing.open("ab") as writer:
        for start in range(0, len(data), step):
            writer.write(data[start : start + step])
            writer.flush()
            got += reader.read_new()
    assert got == all_records(offline_run_file_with_large_config)


@pytest.mark.slow
def test_follower_polls_return_each_row_once_in_order(
    offline_run_file: Path, tmp_path: Path
) -> None:
    data = offline_run_file.read_bytes()
    growing = tmp_path / "run-growing.wandb"
    growing.write_bytes(b"")
    polled: list[dict[str, Any]] = []
    with RunFileFollower(growing) as follower, growing.open("ab") as writer:
        for start in range(0, len(data), 1500):
            writer.write(data[start : start + 1500])
            writer.flush()
            polled += follower.poll()
    assert polled == read_run_file(offline_run_file).history


@pytest.mark.slow
def test_state_already_taken_is_not_changed_by_later_polls(
    offline_run_file: Path, tmp_path: Path
) -> None:
    data = offline_run_file.read_bytes()
    growing = copy_with(tmp_path, offline_run_file, data[: len(data) // 2])
    with RunFileFollower(growing) as follower:
        follower.poll()
        before = follower.state
        rows_before = len(before.history)
        summary_before = dict(before.summary)
        with growing.open("ab") as writer:
            writer.write(data[len(data) // 2 :])
        follower.poll()
        assert len(follower.state.history) > rows_before
    assert (len(before.history), before.summary, before.finished) == (
        rows_before,
        summary_before,
        False,
    )


def test_a_file_that_does_not_exist_yet_reads_as_empty(tmp_path: Path) -> None:
    with RunFileFollower(tmp_path / "run-later.wandb") as follower:
        assert follower.poll() == []
        assert follower.state == RunFileSummary(None, None, None, {}, [], {}, None, False)


@pytest.mark.slow
def test_a_follower_sees_rows_while_the_child_is_still_writing(
    datastore_wandb_dir: Path, reap: list[subprocess.Popen[bytes]]
) -> None:
    go_on = datastore_wandb_dir / "go-on"
    # The child stops after its tenth row until the test has read rows from its file, so
    # the test can only pass by reading the file while the child is still running.
    child = start_child(
        datastore_wandb_dir,
        f"""
        import os, sys, time
        import wandb

        run = wandb.init(project="follow")
        for i in range(30):
            wandb.log({{"i": i, "sq": {{"v": i * i}}}})
            if i == 9:
                deadline = time.monotonic() + {CHILD_TIMEOUT}
                while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
                    time.sleep(0.02)
            time.sleep(0.1)
        run.finish()
        """,
        str(go_on),
    )
    reap.append(child)
    follower = RunFileFollower(wait_for_run_file(datastore_wandb_dir, child))
    polls = [follow_until(follower, child, rows=1)]
    go_on.touch()
    while child.poll() is None:
        polls.append(follower.poll())
        time.sleep(0.05)
    final = wait_for_exit_record(follower.path, timeout=CHILD_TIMEOUT)
    polls.append(follower.poll())

    assert child.returncode == 0
    assert len(polls[0]) <= 10  # read before the child could log its eleventh row
    assert [row["i"] for batch in polls for row in batch] == list(range(30))
    assert [row["sq"]["v"] for row in final.history] == [i * i for i in range(30)]
    assert (follower.state.finished, follower.state.exit_code) == (True, 0)


# --- How a run ends ------------------------------------------------------------------------

ENDLESS_CHILD = """
    import time
    import wandb

    run = wandb.init(project="ending")
    for i in range(100_000):
        wandb.log({"i": i})
        time.sleep(0.05)
"""


@pytest.mark.slow
def test_a_killed_childs_file_reads_up_to_the_last_flush_without_exit(
    datastore_wandb_dir: Path, reap: list[subprocess.Popen[bytes]]
) -> None:
    child = start_child(datastore_wandb_dir, ENDLESS_CHILD)
    reap.append(child)
    run_file = wait_for_run_file(datastore_wandb_dir, child)
    with RunFileFollower(run_file) as follower:
        seen = follow_until(follower, child, rows=5)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=CHILD_TIMEOUT)

    state = read_run_file(run_file)
    assert (state.finished, state.exit_code) == (False, None)
    assert len(state.history) >= len(seen)
    assert [row["i"] for row in state.history] == list(range(len(state.history)))


@pytest.mark.slow
def test_a_child_that_raises_has_exit_code_one(datastore_wandb_dir: Path) -> None:
    child = start_child(
        datastore_wandb_dir,
        """
        import wandb

        run = wandb.init(project="ending")
        wandb.log({"i": 0})
        raise ValueError("the user's code failed")
        """,
    )
    child.wait(timeout=CHILD_TIMEOUT)
    (run_file,) = (datastore_wandb_dir / "wandb").glob("offline-run-*/run-*.wandb")

    state = wait_for_exit_record(run_file, timeout=CHILD_TIMEOUT)
    assert child.returncode == 1
    assert (state.finished, state.exit_code) == (True, 1)
    assert [row["i"] for row in state.history] == [0]


@pytest.mark.slow
def test_a_child_stopped_by_sigint_has_exit_code_255_and_keeps_its_rows(
    datastore_wandb_dir: Path, reap: list[subprocess.Popen[bytes]]
) -> None:
    child = start_child(datastore_wandb_dir, ENDLESS_CHILD)
    reap.append(child)
    run_file = wait_for_run_file(datastore_wandb_dir, child)
    with RunFileFollower(run_file) as follower:
        follow_until(follower, child, rows=3)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=CHILD_TIMEOUT)

    state = wait_for_exit_record(run_file, timeout=CHILD_TIMEOUT)
    assert (state.finished, state.exit_code) == (True, 255)
    assert [row["i"] for row in state.history] == list(range(len(state.history)))


# --- Damage and torn tails -----------------------------------------------------------------


def middle_chunk(data: bytes) -> Chunk:
    chunks = [c for c in chunk_layout(data) if c.length > 0]
    return chunks[len(chunks) // 2]


def flip(data: bytes, offset: int, mask: int = 0xFF) -> bytes:
    return data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1 :]


@pytest.mark.slow
@pytest.mark.parametrize(
    "where",
    ["header", "checksum", "length", "type", "data"],
)
def test_a_flipped_byte_raises_corrupt_file_error(
    offline_run_file: Path, tmp_path: Path, where: str
) -> None:
    data = offline_run_file.read_bytes()
    chunk = middle_chunk(data)
    target = {
        "header": (2, 0xFF),
        "checksum": (chunk.offset + 1, 0xFF),
        # The low bit: one byte longer or shorter still ends inside the file.
        "length": (chunk.offset + 4, 0x01),
        "type": (chunk.offset + 6, 0xFF),
        "data": (chunk.offset + 7 + chunk.length // 2, 0xFF),
    }[where]
    damaged = copy_with(tmp_path, offline_run_file, flip(data, *target))
    with pytest.raises(CorruptFileError) as raised:
        read_run_file(damaged)
    assert raised.value.offset == (0 if where == "header" else chunk.offset)
    if where in ("checksum", "data"):
        assert "checksum" in raised.value.reason
    assert isinstance(raised.value, LocalsweepError)


@pytest.mark.slow
def test_records_before_damage_are_returned_before_the_error(
    offline_run_file: Path, tmp_path: Path
) -> None:
    data = offline_run_file.read_bytes()
    chunk = middle_chunk(data)
    damaged = copy_with(tmp_path, offline_run_file, flip(data, chunk.offset + 7))
    intact_before = sum(
        1 for c in chunk_layout(data) if c.kind in (FULL, LAST) and c.end <= chunk.offset
    )
    with RecordReader(damaged) as reader:
        assert reader.read_new() == all_records(offline_run_file)[:intact_before]
        for _ in range(2):  # the damage stays reported
            with pytest.raises(CorruptFileError):
                reader.read_new()


def test_a_file_that_is_not_a_wandb_log_raises(tmp_path: Path) -> None:
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b"hello, this is not a transaction log")
    with pytest.raises(CorruptFileError):
        read_run_file(path)


@pytest.mark.slow
def test_a_torn_chunk_at_the_end_is_left_for_the_next_read(
    offline_run_file: Path, tmp_path: Path
) -> None:
    data = offline_run_file.read_bytes()
    chunk = middle_chunk(data)
    cut = chunk.offset + 7 + chunk.length // 2
    torn = copy_with(tmp_path, offline_run_file, data[:cut])
    complete = sum(1 for c in chunk_layout(data) if c.kind in (FULL, LAST) and c.end <= cut)
    full = all_records(offline_run_file)
    with RecordReader(torn) as reader:
        first = reader.read_new()
        assert first == full[:complete]
        with torn.open("ab") as writer:
            writer.write(data[cut:])
        assert first + reader.read_new() == full


@pytest.mark.slow
def test_a_file_cut_anywhere_reads_as_a_prefix_without_error(
    offline_run_file_with_large_config: Path, tmp_path: Path
) -> None:
    data = offline_run_file_with_large_config.read_bytes()
    full = all_records(offline_run_file_with_large_config)
    chunks = chunk_layout(data)
    # Inside the header, inside chunk headers, inside data, between the parts of a split
    # record, and inside a block's zero padding.
    cuts = {0, 3, 7, 9, len(data) - 1}
    for c in chunks:
        cuts |= {c.offset + 3, c.offset + 7, c.end - 1, c.end + 2}
    for cut in sorted(x for x in cuts if x < len(data)):
        torn = copy_with(tmp_path, offline_run_file_with_large_config, data[:cut])
        complete = sum(1 for c in chunks if c.kind in (FULL, LAST) and c.end <= cut)
        assert all_records(torn) == full[:complete], f"cut at byte {cut}"


@pytest.mark.slow
def test_a_record_spanning_blocks_round_trips(offline_run_file_with_large_config: Path) -> None:
    data = offline_run_file_with_large_config.read_bytes()
    kinds = {c.kind for c in chunk_layout(data)}
    assert {FIRST, MIDDLE, LAST} <= kinds, "the config should have been split over blocks"
    expected_blob = (offline_run_file_with_large_config.parents[2] / "expected.json").read_text()
    state = read_run_file(offline_run_file_with_large_config)
    assert state.config["blob"] == json.loads(expected_blob)["blob"]
    assert [row["i"] for row in state.history] == [0, 1, 2]


# --- Waiting for the end -------------------------------------------------------------------


@pytest.mark.slow
def test_wait_for_exit_record_times_out_on_a_run_that_has_not_ended(
    offline_run_file: Path, tmp_path: Path
) -> None:
    data = offline_run_file.read_bytes()
    exit_chunk = next(
        c
        for c in chunk_layout(data)
        if c.kind == FULL and pb.Record.FromString(data[c.offset + 7 : c.end]).HasField("exit")
    )
    unfinished = copy_with(tmp_path, offline_run_file, data[: exit_chunk.offset])
    with pytest.raises(TimeoutError):
        wait_for_exit_record(unfinished, timeout=0.3, poll_interval=0.05)


def test_wait_for_exit_record_times_out_when_the_file_never_appears(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match="does not exist"):
        wait_for_exit_record(tmp_path / "run-never.wandb", timeout=0.2)


def test_read_run_file_raises_for_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_run_file(tmp_path / "run-missing.wandb")


@pytest.mark.slow
def test_a_closed_reader_refuses_to_read(offline_run_file: Path, tmp_path: Path) -> None:
    reader = RecordReader(shutil.copy(offline_run_file, tmp_path))
    reader.close()
    reader.close()
    with pytest.raises(ValueError):
        reader.read_new()


@pytest.mark.parametrize("which", ["finished", "large_config"])
def test_a_config_only_read_has_the_whole_config_and_skips_only_rows_and_summaries(
    which: str, offline_run_file: Path, offline_run_file_with_large_config: Path
) -> None:
    """``Run.config`` of the Api reads a run's file for its config alone: the config, late
    updates and a record split over blocks included, is the whole read's; its history and
    summary records are the ones left undecoded (a 200,000-row run: 0.6 s, not 7)."""
    path = offline_run_file if which == "finished" else offline_run_file_with_large_config
    whole = read_run_file(path)
    quick = read_run_file(path, config_only=True)
    assert quick.config == whole.config and quick.config
    assert (quick.run_id, quick.project, quick.exit_code, quick.finished) == (
        whole.run_id,
        whole.project,
        whole.exit_code,
        whole.finished,
    )
    assert quick.history == [] and whole.history
    kinds = [r.WhichOneof("record_type") for r in all_records(path)]
    with RecordReader(path, skip=frozenset({2, 3})) as reader:
        kept = [r.WhichOneof("record_type") for r in reader.read_new()]
    # Every other record is read, in order; the rows are skipped (a record whose kind
    # does not come first, as some summaries, is decoded all the same).
    others = [k for k in kinds if k not in ("history", "summary")]
    assert [k for k in kept if k not in ("history", "summary")] == others
    assert "history" in kinds and "history" not in kept

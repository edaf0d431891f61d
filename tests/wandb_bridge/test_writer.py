"""The writer of wandb's offline run files, on files real wandb 0.31 wrote: a rewrite that
changes nothing is byte-identical, a changed sweep id reads back (in our reader and in the
real ``wandb sync``), and damage is refused by both."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from logfile_helpers import chunk_layout, inspect_run_file
from wandb.proto import wandb_internal_pb2 as pb

from localsweep.wandb_bridge import CorruptFileError, read_run_file
from localsweep.wandb_bridge._writer import (
    RecordWriter,
    read_raw_records,
    rewrite_run_file,
    verify_rewrite,
)

FIRST, MIDDLE, LAST = 2, 3, 4


def test_a_rewrite_that_changes_nothing_is_byte_identical_for_a_small_file(
    offline_run_file: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.wandb"
    # The run has no sweep id: clearing it changes nothing.
    result = rewrite_run_file(offline_run_file, copy, sweep_id="")

    assert copy.read_bytes() == offline_run_file.read_bytes()
    assert result.changed == 0 and result.run_records >= 1


def test_a_rewrite_that_changes_nothing_is_byte_identical_for_a_file_over_1mb(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    original = offline_run_file_over_1mb.read_bytes()
    assert len(original) > 1_000_000
    # The config spans blocks: split into first, middle and last chunks.
    assert {FIRST, MIDDLE, LAST} <= {c.kind for c in chunk_layout(original)}
    copy = tmp_path / "copy.wandb"

    result = rewrite_run_file(offline_run_file_over_1mb, copy, sweep_id="ls-writer01")

    assert copy.read_bytes() == original
    assert result.changed == 0
    assert result.source_sweep_ids == ("ls-writer01",)


def test_records_written_one_by_one_are_laid_out_as_wandb_lays_them_out(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.wandb"
    with RecordWriter(copy) as writer:
        for record in read_raw_records(offline_run_file_over_1mb):
            writer.write(record)

    assert copy.read_bytes() == offline_run_file_over_1mb.read_bytes()


def test_a_changed_sweep_id_reads_back_with_everything_else_unchanged(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.wandb"

    result = rewrite_run_file(offline_run_file_over_1mb, copy, sweep_id="srv00042")
    verify_rewrite(offline_run_file_over_1mb, copy, sweep_id="srv00042")

    # Every Run record carries the new id (the run was retagged: there are several).
    assert result.run_records >= 2 and result.changed == result.run_records
    assert inspect_run_file(copy).sweep_ids == ("srv00042",)
    before, after = read_run_file(offline_run_file_over_1mb), read_run_file(copy)
    assert after.sweep_id == "srv00042"
    assert after.config == before.config and len(after.config["blob"]) == 100_000
    assert after.history == before.history and len(after.history) == 9_000
    assert after.summary == before.summary
    assert after.exit_code == before.exit_code == 0
    # Only the Run records differ, and only in their sweep id.
    for old, new in zip(
        read_raw_records(offline_run_file_over_1mb), read_raw_records(copy), strict=True
    ):
        if old != new:
            old_record, new_record = pb.Record(), pb.Record()
            old_record.ParseFromString(old)
            new_record.ParseFromString(new)
            assert new_record.WhichOneof("record_type") == "run"
            old_record.run.sweep_id = "srv00042"
            assert old_record == new_record


def test_verify_rewrite_refuses_a_copy_that_differs(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.wandb"
    rewrite_run_file(offline_run_file_over_1mb, copy, sweep_id="srv00042")

    with pytest.raises(CorruptFileError, match=r"sweep id|differs"):
        verify_rewrite(offline_run_file_over_1mb, copy, sweep_id="srv00043")


def test_the_writer_never_overwrites_a_file(offline_run_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.wandb"
    copy.write_bytes(b"keep")

    with pytest.raises(FileExistsError):
        rewrite_run_file(offline_run_file, copy, sweep_id="x")
    assert copy.read_bytes() == b"keep"


def _flip_a_history_byte(path: Path) -> None:
    """Flip a bit of the record data in the middle of the file: inside a chunk's data, so
    that only its checksum can tell (a chunk header hit instead would be another error)."""
    from localsweep.wandb_bridge._logformat import (
        _CHUNK_HEADER,
        _CHUNK_HEADER_SIZE,
        BLOCK_SIZE,
        FILE_HEADER,
    )

    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    pos = len(FILE_HEADER)
    while True:
        if BLOCK_SIZE - pos % BLOCK_SIZE < _CHUNK_HEADER_SIZE:  # a block's padding
            pos += BLOCK_SIZE - pos % BLOCK_SIZE
            continue
        _crc, length, _kind = _CHUNK_HEADER.unpack_from(data, pos)
        start, stop = pos + _CHUNK_HEADER_SIZE, pos + _CHUNK_HEADER_SIZE + length
        if stop > middle and length > 0:
            data[max(start, middle) if middle < stop else start] ^= 0x01
            break
        pos = stop
    path.write_bytes(bytes(data))


def test_a_flipped_byte_is_refused_by_our_reader(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.wandb"
    shutil.copy(offline_run_file_over_1mb, damaged)
    _flip_a_history_byte(damaged)

    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        read_raw_records(damaged)
    with pytest.raises(CorruptFileError):
        rewrite_run_file(damaged, tmp_path / "copy.wandb", sweep_id="srv00042")


@pytest.mark.slow
def test_wandb_sync_uploads_the_rewritten_file_and_refuses_it_with_a_flipped_byte(
    offline_run_file_over_1mb: Path, tmp_path: Path, standin_server: Any
) -> None:
    from localsweep.wandb_bridge._server import run_wandb_sync

    folder = offline_run_file_over_1mb.parent
    good_dir, bad_dir = tmp_path / "good" / folder.name, tmp_path / "bad" / folder.name
    for dest in (good_dir, bad_dir):
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("*.wandb", "*.wandb.*"))
        rewrite_run_file(
            offline_run_file_over_1mb, dest / offline_run_file_over_1mb.name, sweep_id="srv00042"
        )
    bad_file = bad_dir / offline_run_file_over_1mb.name
    _flip_a_history_byte(bad_file)
    server = standin_server
    good = run_wandb_sync(
        [good_dir / bad_file.name], entity="team", project="proj", workdir=tmp_path, timeout=600
    )
    [run_id] = server.runs
    rows = len(server.runs[run_id].history)
    bad = run_wandb_sync([bad_file], entity="team", project="proj", workdir=tmp_path, timeout=600)

    assert good.synced == (good_dir / bad_file.name,)
    assert server.first_upserts()[run_id]["sweep"] == "srv00042"
    assert rows == 9_000
    assert bad.synced == ()
    assert "checksum" in bad.output

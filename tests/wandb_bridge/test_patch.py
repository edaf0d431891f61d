"""The one-pass scan of a run file and the in-place patch of its Run records (the fast path
of ``localsweep sync``'s staging), on files real wandb 0.31 wrote: the copy is the
original's bytes outside the Run records' chunks, reads back with the new sweep id in
our reader and in the real ``wandb sync``, and damage is refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from logfile_helpers import chunk_layout, inspect_run_file
from wandb.proto import wandb_internal_pb2 as pb

from localsweep._sync._stage import stage_run
from localsweep.wandb_bridge import CorruptFileError, read_run_file
from localsweep.wandb_bridge._patch import (
    _check_patch,
    patch_run_file,
    repatch_run_file,
    scan_run_file,
)
from localsweep.wandb_bridge._writer import read_raw_records

FIRST, LAST = 2, 4


def run_chunk_spans(scan_chunks: tuple[tuple[tuple[int, int, int], ...], ...]) -> list[range]:
    return [range(pos, pos + 7 + length) for chunks in scan_chunks for pos, length, _ in chunks]


def only_sweep_id_differs(old: bytes, new: bytes, sweep_id: str) -> bool:
    old_record, new_record = pb.Record(), pb.Record()
    old_record.ParseFromString(old)
    new_record.ParseFromString(new)
    old_record.run.sweep_id = sweep_id
    return new_record.WhichOneof("record_type") == "run" and old_record == new_record


@pytest.mark.parametrize("fixture", ["offline_run_file", "offline_run_file_over_1mb"])
def test_the_scan_reads_what_the_record_by_record_reader_reads(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    scan, info = scan_run_file(path), inspect_run_file(path)

    assert (scan.run_id, scan.project, scan.sweep_ids, scan.exit_code, scan.records) == (
        info.run_id,
        info.project,
        info.sweep_ids,
        info.exit_code,
        info.records,
    )
    assert scan.size == path.stat().st_size  # a finished run has no torn tail


def test_a_patched_copy_is_the_original_outside_the_run_records(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    original = offline_run_file_over_1mb.read_bytes()
    scan = scan_run_file(offline_run_file_over_1mb)
    copy = tmp_path / "copy.wandb"

    result = patch_run_file(offline_run_file_over_1mb, copy, scan, sweep_id="srv00042")

    assert result is not None
    patched = copy.read_bytes()
    # The same length and the same chunk layout: only the Run records' chunks changed.
    assert len(patched) == len(original)
    assert chunk_layout(patched) == chunk_layout(original)
    masked_original, masked_copy = bytearray(original), bytearray(patched)
    for span in run_chunk_spans(scan.run_chunks):
        masked_original[span.start : span.stop] = bytes(len(span))
        masked_copy[span.start : span.stop] = bytes(len(span))
    assert masked_copy == masked_original
    # Every Run record (the run was retagged: there are two) carries the new id, and
    # nothing else of it changed; every other record is byte for byte the original's.
    assert result.changed == len(scan.run_chunks) >= 2
    records = zip(read_raw_records(offline_run_file_over_1mb), read_raw_records(copy), strict=True)
    for old, new in records:
        assert old == new or only_sweep_id_differs(old, new, "srv00042")
    before, after = read_run_file(offline_run_file_over_1mb), read_run_file(copy)
    assert after.sweep_id == "srv00042" and before.sweep_id == "ls-writer01"
    assert after.config == before.config and after.history == before.history
    assert after.summary == before.summary and after.exit_code == before.exit_code == 0
    assert inspect_run_file(copy).sweep_ids == ("srv00042",)


def test_a_run_record_that_spans_blocks_is_patched_across_its_chunks(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    scan = scan_run_file(offline_run_file_over_1mb)
    spanning = [chunks for chunks in scan.run_chunks if len(chunks) > 1]
    assert spanning, "the fixture's first Run record holds a 100 KB config"
    assert spanning[0][0][2] == FIRST and spanning[0][-1][2] == LAST
    copy = tmp_path / "copy.wandb"

    patch_run_file(offline_run_file_over_1mb, copy, scan, sweep_id="srv00042")

    original, patched = offline_run_file_over_1mb.read_bytes(), copy.read_bytes()
    changed = [
        (pos, length)
        for pos, length, _kind in spanning[0]
        if original[pos : pos + 7 + length] != patched[pos : pos + 7 + length]
    ]
    assert changed  # the chunk holding the sweep id, with its CRC
    assert (
        read_run_file(copy).config["blob"]
        == read_run_file(offline_run_file_over_1mb).config["blob"]
    )


def test_a_cleared_sweep_id_reads_back_as_none(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    scan = scan_run_file(offline_run_file_over_1mb)
    copy = tmp_path / "copy.wandb"

    assert patch_run_file(offline_run_file_over_1mb, copy, scan, sweep_id="") is not None

    assert inspect_run_file(copy).sweep_ids == ("",)
    assert read_run_file(copy).sweep_id in (None, "")


def test_clearing_a_run_without_a_sweep_id_copies_it_unchanged(
    offline_run_file: Path, tmp_path: Path
) -> None:
    # A training run by hand (a prior run from ./wandb): nothing to clear, so the copy is
    # the original's bytes, not a fallback to the record-by-record rewrite.
    scan = scan_run_file(offline_run_file)
    assert scan.sweep_ids == ("",)
    copy = tmp_path / "copy.wandb"

    patch = patch_run_file(offline_run_file, copy, scan, sweep_id="")

    assert patch is not None and patch.changed == 0
    assert copy.read_bytes() == offline_run_file.read_bytes()[: scan.size]
    assert inspect_run_file(copy).sweep_ids == ("",)


def test_a_copy_patched_ahead_gets_the_final_sweep_id_in_place(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    scan = scan_run_file(offline_run_file_over_1mb)
    ahead, direct = tmp_path / "ahead.wandb", tmp_path / "direct.wandb"
    patch = patch_run_file(offline_run_file_over_1mb, ahead, scan, sweep_id="--------")
    assert patch is not None

    assert repatch_run_file(ahead, patch, sweep_id="srv00042")

    patch_run_file(offline_run_file_over_1mb, direct, scan, sweep_id="srv00042")
    assert ahead.read_bytes() == direct.read_bytes()
    assert read_run_file(ahead).sweep_id == "srv00042"


@pytest.mark.parametrize("sweep_id", ["srv0000042", "s" * 12])
def test_a_sweep_id_whose_field_cannot_keep_its_length_is_not_patched(
    offline_run_file_over_1mb: Path, tmp_path: Path, sweep_id: str
) -> None:
    # The original field is 13 bytes ("ls-writer01"): a 10-character id leaves 1 spare
    # byte (a filler field needs 2), a 12-character one needs more room than there is.
    scan = scan_run_file(offline_run_file_over_1mb)
    copy = tmp_path / "copy.wandb"

    assert patch_run_file(offline_run_file_over_1mb, copy, scan, sweep_id=sweep_id) is None
    assert not copy.exists()


def test_staging_falls_back_to_the_record_by_record_rewrite(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    folder = offline_run_file_over_1mb.parent
    scan = scan_run_file(offline_run_file_over_1mb)

    staged = stage_run(folder, offline_run_file_over_1mb, tmp_path / "staging", "s" * 12, scan=scan)

    assert staged.folder.name == folder.name
    assert read_run_file(staged.run_file).sweep_id == "s" * 12
    assert (staged.folder / "files").is_dir() and not (staged.folder / "logs").exists()


def test_a_file_changed_since_its_scan_is_not_patched(
    offline_run_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "run.wandb"
    shutil.copyfile(offline_run_file, source)
    scan = scan_run_file(source)
    data = bytearray(source.read_bytes())
    data[-1] ^= 0x01
    source.write_bytes(bytes(data))

    assert patch_run_file(source, tmp_path / "copy.wandb", scan, sweep_id="srv00042") is None
    assert not (tmp_path / "copy.wandb").exists()


def test_a_flipped_byte_is_refused_by_the_scan(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.wandb"
    data = bytearray(offline_run_file_over_1mb.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))

    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        scan_run_file(damaged)


def test_the_check_of_a_patched_copy_refuses_a_changed_byte(
    offline_run_file_over_1mb: Path, tmp_path: Path
) -> None:
    scan = scan_run_file(offline_run_file_over_1mb)
    copy = tmp_path / "copy.wandb"
    patch = patch_run_file(offline_run_file_over_1mb, copy, scan, sweep_id="srv00042")
    assert patch is not None
    original = offline_run_file_over_1mb.read_bytes()
    patched = [(chunks, old) for chunks, old in patch.run_records]
    data = bytearray(copy.read_bytes())

    # A byte outside the Run records (in the history), then one inside a Run record.
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="differs from the original"):
        _check_patch(copy, original, patched, "srv00042")
    data[len(data) // 2] ^= 0x01
    pos, length, _kind = patch.run_records[-1][0][0]
    data[pos + 7 + length // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checksum"):
        _check_patch(copy, original, patched, "srv00042")


@pytest.mark.slow
def test_wandb_sync_uploads_a_patched_copy_with_the_new_sweep_id(
    offline_run_file_over_1mb: Path, tmp_path: Path, standin_server: Any
) -> None:
    from localsweep.wandb_bridge._server import run_wandb_sync

    folder = offline_run_file_over_1mb.parent
    dest = tmp_path / "staged" / folder.name
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("*.wandb", "*.wandb.*"))
    copy = dest / offline_run_file_over_1mb.name
    scan = scan_run_file(offline_run_file_over_1mb)
    assert patch_run_file(offline_run_file_over_1mb, copy, scan, sweep_id="srv00042")
    server = standin_server
    result = run_wandb_sync([copy], entity="team", project="proj", workdir=tmp_path, timeout=600)
    [run_id] = server.runs

    # wandb's core keeps the last of the two sweep_id fields, as protobuf's rule says.
    assert result.synced == (copy,)
    assert server.first_upserts()[run_id]["sweep"] == "srv00042"
    assert len(server.runs[run_id].history) == 9_000

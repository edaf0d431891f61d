"""A record reader started at a block inside the file (``RecordReader(path, start=...)``),
as ``Run.summary`` reads a long run's last summary records: it returns exactly the records
that begin at or after that block, a record split across it skipped. Real wandb files."""

from __future__ import annotations

from pathlib import Path

import pytest
from logfile_helpers import chunk_layout

from localsweep.wandb_bridge._records import RecordReader

BLOCK = 32 * 1024
FULL, FIRST = 1, 2


def _records_from(path: Path, start: int) -> list[bytes]:
    with RecordReader(path, start=start) as reader:
        return [record.SerializeToString() for record in reader.read_new()]


@pytest.mark.slow
def test_reading_from_each_block_gives_the_records_that_begin_there(
    offline_run_file_with_large_config: Path,
) -> None:
    data = offline_run_file_with_large_config.read_bytes()
    whole = _records_from(offline_run_file_with_large_config, 0)
    # where each record's first chunk is, walked independently of the reader
    begins = [chunk.offset for chunk in chunk_layout(data) if chunk.kind in (FULL, FIRST)]
    assert len(begins) == len(whole)
    starts = range(0, len(data), BLOCK)
    assert len(starts) >= 4, "the file should span several blocks"
    split = 0
    for start in starts:
        expected = [record for record, at in zip(whole, begins, strict=True) if at >= start]
        assert _records_from(offline_run_file_with_large_config, start) == expected, start
        split += start not in begins and any(at < start for at in begins)
    assert split, "some block should start inside a record, for the skip to be tried"


def test_a_start_inside_a_block_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 32768"):
        RecordReader(tmp_path / "run.wandb", start=100)

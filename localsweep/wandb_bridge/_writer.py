"""Write wandb's offline transaction log (``run-<id>.wandb``): rewrite a run's sweep id.

wandb 0.31 ships no Python writer for its transaction log (only its Go core writes it),
and ``wandb sync`` sends each run's recorded sweep id with no way to change it. To attach
offline runs to a sweep the server made, :func:`rewrite_run_file` writes a copy of a run
file in which every Run record carries the server's sweep id, and copies every other
record byte for byte. The format is the one :mod:`localsweep.wandb_bridge._datastore`
reads (its block, chunk and CRC constants, from
:mod:`localsweep.wandb_bridge._logformat`, are used here): records are laid out again chunk
by chunk exactly as wandb's writer lays them out, so a copy with nothing changed is
byte-identical to its source.

:func:`verify_rewrite` reads both files back and compares them record by record; a copy
is used only after it passes.

Tested against wandb 0.31.0.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from localsweep.wandb_bridge._logformat import (
    _CHUNK_HEADER,
    _CHUNK_HEADER_SIZE,
    _CRC_SEEDS,
    _FIRST,
    _FULL,
    _LAST,
    _MIDDLE,
    BLOCK_SIZE,
    FILE_HEADER,
    CorruptFileError,
)
from localsweep.wandb_bridge._records import Record, RecordReader

__all__ = [
    "RawRecordReader",
    "RecordWriter",
    "RewriteResult",
    "read_raw_records",
    "rewrite_run_file",
    "verify_rewrite",
]


_FLUSH_SIZE = 1 << 20
# The chunk type by (first chunk of the record, last chunk of the record).
_KINDS = {(True, True): _FULL, (True, False): _FIRST, (False, False): _MIDDLE, (False, True): _LAST}


class RawRecordReader(RecordReader):
    """A :class:`RecordReader` that returns each record's bytes as stored, undecoded.

    The same checks apply (header, CRCs, chunk order); a record is not parsed, so its
    bytes can be copied unchanged.
    """

    def _decode(self, pos: int, data: bytes) -> Any:
        return data


def read_raw_records(path: str | os.PathLike[str]) -> list[bytes]:
    """Every complete record of a ``.wandb`` file, as stored. A torn tail is left out;
    damage raises :class:`CorruptFileError`, a missing file ``FileNotFoundError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no wandb transaction log at {path}")
    records: list[bytes] = []
    with RawRecordReader(path) as reader:
        # Damage is raised by the read after the one that returned the records before it.
        while batch := reader.read_new():
            records.extend(batch)
    return records


class RecordWriter:
    """Writes records in wandb's transaction log format, laid out as wandb lays them out.

    Example::

        with RecordWriter(path) as writer:
            writer.write(record.SerializeToString())
    """

    def __init__(self, path: str | os.PathLike[str]):
        self._path = Path(path)
        # Exclusive create, as wandb's own writer: never overwrite a log.
        self._file: IO[bytes] = open(self._path, "xb")  # noqa: SIM115 (closed in close())
        # Chunks are gathered here and written in large pieces: most records are small.
        self._buf = bytearray(FILE_HEADER)
        self._offset = len(FILE_HEADER)

    def write(self, data: bytes) -> None:
        """Append one record (a serialized ``Record``), split over blocks as needed."""
        buf = self._buf
        size = len(data)
        room = BLOCK_SIZE - self._offset % BLOCK_SIZE
        if room >= _CHUNK_HEADER_SIZE + size:  # the common case: one FULL chunk
            buf += _CHUNK_HEADER.pack(zlib.crc32(data, _CRC_SEEDS[_FULL]), size, _FULL)
            buf += data
            self._offset += _CHUNK_HEADER_SIZE + size
        else:
            self._write_split(data)
        if len(buf) >= _FLUSH_SIZE:
            self._file.write(buf)
            buf.clear()

    def _write_split(self, data: bytes) -> None:
        buf = self._buf
        pos = 0
        first = True
        while True:
            room = BLOCK_SIZE - self._offset % BLOCK_SIZE
            if room < _CHUNK_HEADER_SIZE:
                buf += b"\x00" * room
                self._offset += room
                room = BLOCK_SIZE
            take = min(len(data) - pos, room - _CHUNK_HEADER_SIZE)
            last = pos + take == len(data)
            kind = _KINDS[first, last]
            chunk = data[pos : pos + take]
            buf += _CHUNK_HEADER.pack(zlib.crc32(chunk, _CRC_SEEDS[kind]), take, kind)
            buf += chunk
            self._offset += _CHUNK_HEADER_SIZE + take
            pos += take
            first = False
            if last:
                return

    def close(self) -> None:
        """Write what is left and close the file. It is not fsynced: copies are read back
        and checked before use, and a copy lost to a crash is simply made again."""
        if not self._file.closed:
            self._file.write(self._buf)
            self._buf.clear()
            self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class RewriteResult:
    """What :func:`rewrite_run_file` did: ``records`` written, of which ``run_records``
    were Run records and ``changed`` had their sweep id set; the sweep ids the source's
    Run records carried (``""`` for none), in order of first appearance."""

    records: int
    run_records: int
    changed: int
    source_sweep_ids: tuple[str, ...]
    bytes_written: int


def _with_sweep(record_bytes: bytes, sweep_id: str) -> tuple[bytes, str | None]:
    """The record with its Run's sweep id set, and the sweep id it had; other records
    (and Run records already carrying ``sweep_id``) come back as they are."""
    # A Record's run is field 17 (a length-delimited field, tag bytes 0x8a 0x01); a
    # record without those bytes cannot hold one, which saves parsing every history row.
    if b"\x8a\x01" not in record_bytes:
        return record_bytes, None
    record = Record()
    record.ParseFromString(record_bytes)
    if record.WhichOneof("record_type") != "run":
        return record_bytes, None
    old = record.run.sweep_id
    if old == sweep_id:
        return record_bytes, old
    record.run.sweep_id = sweep_id
    return record.SerializeToString(), old


def rewrite_run_file(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    sweep_id: str,
    verify: bool = False,
) -> RewriteResult:
    """Copy the run file ``source`` to ``dest`` (which must not exist) with every Run
    record's sweep id set to ``sweep_id`` (``""`` clears it). Every other record is
    copied byte for byte; a torn tail (a killed writer's last, unfinished record) is
    left out. ``source`` is only read. With ``verify``, ``dest`` is then read back and
    checked as :func:`verify_rewrite` does (against the source records already read).
    Raises :class:`CorruptFileError` for a damaged source or a copy that differs."""
    records = read_raw_records(source)
    wanted = [_with_sweep(data, sweep_id) for data in records]
    with RecordWriter(dest) as writer:
        write = writer.write
        for data, _old in wanted:
            write(data)
    olds = [old for _data, old in wanted if old is not None]
    changed = sum(
        1
        for (new, old), data in zip(wanted, records, strict=True)
        if old is not None and new is not data
    )
    if verify:
        _compare(wanted, Path(dest), sweep_id)
    return RewriteResult(
        records=len(records),
        run_records=len(olds),
        changed=changed,
        source_sweep_ids=tuple(dict.fromkeys(olds)),
        bytes_written=Path(dest).stat().st_size,
    )


def verify_rewrite(
    source: str | os.PathLike[str], dest: str | os.PathLike[str], *, sweep_id: str
) -> None:
    """Read ``source`` and its rewritten copy ``dest`` back and compare them record by
    record: every record but the Run records must be byte-identical, and each Run record
    must equal the source's with only the sweep id set to ``sweep_id``. Raises
    :class:`CorruptFileError` (naming ``dest``) on the first difference."""
    wanted = [_with_sweep(data, sweep_id) for data in read_raw_records(source)]
    _compare(wanted, Path(dest), sweep_id)


def _compare(wanted: list[tuple[bytes, str | None]], dest: Path, sweep_id: str) -> None:
    """Check ``dest`` holds the records ``wanted`` (each the expected bytes, and the sweep
    id the source's record had if it is a Run record)."""
    actual = read_raw_records(dest)
    if len(actual) != len(wanted):
        raise CorruptFileError(
            dest, 0, f"the copy has {len(actual)} records, the original {len(wanted)}"
        )
    if actual != [record for record, _old in wanted]:
        index = next(i for i, (w, a) in enumerate(zip(wanted, actual, strict=True)) if w[0] != a)
        raise CorruptFileError(dest, 0, f"record {index} differs from the original's")
    for index, (got, (_record, old)) in enumerate(zip(actual, wanted, strict=True)):
        if old is None:
            continue
        record = Record()
        record.ParseFromString(got)
        if record.run.sweep_id != sweep_id:
            raise CorruptFileError(
                dest, 0, f"record {index} has sweep id {record.run.sweep_id!r}, not {sweep_id!r}"
            )

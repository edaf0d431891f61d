"""The records of a wandb offline run file (``run-<id>.wandb``), read as the file grows.

The framing (LevelDB's log format with a wandb header: 32 KiB blocks of CRC-checked
chunks, a record split over chunks where a block ends) is described in
:mod:`localsweep.wandb_bridge._logformat`; each record is a serialized
``wandb.proto.wandb_internal_pb2.Record``. What the records say about a run is folded
in :mod:`localsweep.wandb_bridge._datastore`.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from wandb.proto import wandb_internal_pb2 as pb

from localsweep.wandb_bridge._logformat import (
    _CHUNK_HEADER,
    _CHUNK_HEADER_SIZE,
    _CRC_SEEDS,
    _FIRST,
    _FULL,
    _LAST,
    BLOCK_SIZE,
    FILE_HEADER,
    CorruptFileError,
)

__all__ = ["Record", "RecordReader"]

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from typing import TypeAlias

    # wandb's generated protobuf modules carry no type information.
    Record: TypeAlias = Any
else:
    Record = pb.Record


class RecordReader:
    """Incrementally reads records from a ``.wandb`` file that may still be growing.

    Each :meth:`read_new` returns the records completed since the previous call. A torn
    tail (a chunk, or a record split over chunks, that the writer has not finished yet)
    is kept for the next call, so a reader can poll a file while wandb appends to it.
    A file that does not exist yet reads as empty. Damage raises
    :class:`CorruptFileError`: a header that is not wandb's, a complete chunk whose CRC
    does not match, a chunk that overruns its block, chunks out of order, or a record
    that is not a valid ``Record`` message. Records before the damage are returned first;
    the error is raised by the next call and by every call after it.

    ``start``, a block's start, reads the file from there (its end, say, without the rest):
    a record split across ``start`` is skipped, as the header is. ``skip``: kinds of record
    (their field numbers in ``Record``: 2 history, 3 summary) left out undecoded, their
    checksums still checked: a reader that wants neither reads a long run's file in a
    fraction of the time.

    Example::

        with RecordReader(path) as reader:
            for record in reader.read_new():
                print(record.WhichOneof("record_type"))
    """

    def __init__(
        self, path: str | os.PathLike[str], *, start: int = 0, skip: frozenset[int] = frozenset()
    ):
        if start < 0 or start % BLOCK_SIZE:
            raise ValueError(f"start must be a block's start (a multiple of {BLOCK_SIZE})")
        self._path = Path(path)
        self._file: IO[bytes] | None = None
        self._closed = False
        # Bytes read from the file but not yet consumed; _buf_start is the file offset
        # of _buf[0], so block boundaries can be found from absolute positions.
        self._buf = b""
        self._buf_start = start
        self._header_checked = start > 0
        # Reading from inside the file: the chunks before the first record that starts
        # there end a record that started before it.
        self._mid_record = start > 0
        self._fragments: list[bytes] = []
        self._error: CorruptFileError | None = None
        self._skip = skip

    @property
    def path(self) -> Path:
        """The file this reader reads."""
        return self._path

    @property
    def offset(self) -> int:
        """How many bytes of the file have been consumed as complete chunks."""
        return self._buf_start

    def read_new(self) -> list[Record]:
        """Return every complete record appended since the last call (possibly none)."""
        if self._closed:
            raise ValueError(f"read from a closed RecordReader ({self._path})")
        if self._error is not None:
            raise self._error
        if self._file is None:
            try:
                self._file = open(self._path, "rb")  # noqa: SIM115 (kept open across calls)
            except FileNotFoundError:
                logger.debug("%s does not exist yet", self._path)
                return []
        known_end = self._buf_start + len(self._buf)
        # fstat first: polling a file that has not grown must not read anything.
        size = os.fstat(self._file.fileno()).st_size
        if size < known_end:
            logger.warning("%s shrank from %d to %d bytes; ignoring", self._path, known_end, size)
            return []
        if size == known_end:
            return []
        self._file.seek(known_end)
        fresh = self._file.read(size - known_end)
        self._buf = self._buf + fresh if self._buf else fresh
        return self._parse()

    def close(self) -> None:
        """Close the file. Further reads raise ``ValueError``; closing twice is fine."""
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _corrupt(self, pos: int, reason: str) -> CorruptFileError:
        return CorruptFileError(self._path, self._buf_start + pos, reason)

    def _parse(self) -> list[Record]:
        buf = self._buf
        size = len(buf)
        pos = 0
        records: list[Record] = []
        try:
            if not self._header_checked:
                if size < len(FILE_HEADER):
                    if buf != FILE_HEADER[:size]:
                        raise self._corrupt(0, f"not a wandb transaction log (starts {buf!r})")
                    return records
                if buf[: len(FILE_HEADER)] != FILE_HEADER:
                    raise self._corrupt(
                        0, f"bad file header {buf[: len(FILE_HEADER)]!r}, expected {FILE_HEADER!r}"
                    )
                pos = len(FILE_HEADER)
                self._header_checked = True
            pos = self._parse_chunks(pos, records)
        except CorruptFileError as exc:
            self._error = exc
            if not records:
                raise
            logger.debug("returning %d records before the damage in %s", len(records), self._path)
        finally:
            self._buf = buf[pos:]
            self._buf_start += pos
        return records

    def _parse_chunks(self, pos: int, records: list[Record]) -> int:
        """Consume complete chunks from ``self._buf`` starting at ``pos``; return the new pos.

        On damage the CorruptFileError carries the offset of the bad chunk, and the position
        stays before it (the caller keeps everything parsed so far).
        """
        buf = self._buf
        size = len(buf)
        base = self._buf_start
        unpack = _CHUNK_HEADER.unpack_from
        fragments = self._fragments
        mid_record = self._mid_record
        while True:
            room = BLOCK_SIZE - (base + pos) % BLOCK_SIZE
            if room < _CHUNK_HEADER_SIZE:
                if size - pos < room:
                    return pos
                pos += room
                continue
            if size - pos < _CHUNK_HEADER_SIZE:
                return pos
            crc, length, kind = unpack(buf, pos)
            end = pos + _CHUNK_HEADER_SIZE + length
            seed = _CRC_SEEDS.get(kind)
            if seed is None:
                raise self._corrupt(pos, f"unknown chunk type {kind}")
            if _CHUNK_HEADER_SIZE + length > room:
                raise self._corrupt(
                    pos, f"chunk of {length} bytes overruns its block ({room} bytes left)"
                )
            if end > size:
                return pos  # torn tail: the writer has not finished this chunk yet
            data = buf[pos + _CHUNK_HEADER_SIZE : end]
            if zlib.crc32(data, seed) != crc:
                raise self._corrupt(pos, "checksum mismatch")
            if mid_record:
                if kind != _FULL and kind != _FIRST:
                    pos = end
                    continue
                mid_record = self._mid_record = False
            if kind == _FULL:
                if fragments:
                    raise self._corrupt(pos, "whole record inside a split record")
                record = self._decode(pos, data)
                if record is not None:
                    records.append(record)
            elif kind == _FIRST:
                if fragments:
                    raise self._corrupt(pos, "split record starts inside another")
                fragments.append(data)
            else:
                if not fragments:
                    raise self._corrupt(pos, "continuation of a split record that never began")
                fragments.append(data)
                if kind == _LAST:
                    record = self._decode(pos, b"".join(fragments))
                    if record is not None:
                        records.append(record)
                    fragments.clear()
            pos = end

    def _decode(self, pos: int, data: bytes) -> Record | None:
        if self._skip and _kind(data) in self._skip:
            return None
        record = Record()
        try:
            record.ParseFromString(data)
        except DecodeError as exc:
            raise self._corrupt(pos, f"record is not a wandb Record message ({exc})") from exc
        return record


def _kind(data: bytes) -> int:
    """The field number of a serialized ``Record``'s first field after ``num``: its kind
    (``history`` is field 2, ``summary`` 3) where, as wandb writes them, the kind comes
    next. 0 when that cannot be told from one byte (then the record is decoded)."""
    pos = 0
    if data[:1] == b"\x08":  # num: field 1, a varint
        pos = 1
        while pos < len(data) and data[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= len(data) or data[pos] & 0x80:
        return 0
    return data[pos] >> 3

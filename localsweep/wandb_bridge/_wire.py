"""The ``.wandb`` file at the protobuf wire level: walking its chunks and reading a
record's top-level fields without wandb's protobuf classes (importing them takes most of a
second), for the checks and copies of :mod:`localsweep.wandb_bridge._patch` and the row
counts of a resumed run's attempts (:func:`count_history_rows`).

Field numbers are wandb 0.31's ``wandb_internal.proto``. Tested against wandb 0.31.0.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

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

__all__ = ["Chunk", "Field", "count_history_rows"]

# A chunk: (offset of its header, length of its data, type).
Chunk = tuple[int, int, int]
# A protobuf field: (number, wire type, payload start, end, start).
Field = tuple[int, int, int, int, int]

# The tags of Record fields 17 (run) and 18 (exit), length-delimited.
_TAGS = (b"\x8a\x01", b"\x92\x01")
_HISTORY_FIELD = 2  # Record.history


def count_history_rows(path: str | os.PathLike[str]) -> int:
    """How many history rows (``wandb.log`` steps) a run file holds, its complete records
    read at the protobuf wire level. Only for the few run files that need it (the
    attempts of a resumed run): it decodes every record's top level, which the checks
    of :func:`scan_run_file` avoid. Raises :class:`CorruptFileError` for damage."""
    path = Path(path)
    data = path.read_bytes()
    if data[: len(FILE_HEADER)] != FILE_HEADER:
        return 0
    rows = 0
    pos = len(FILE_HEADER)
    block_end = BLOCK_SIZE
    size = len(data)
    pieces: list[bytes] = []
    while True:
        if pos + _CHUNK_HEADER_SIZE > block_end:
            if size < block_end:
                break
            pos, block_end = block_end, block_end + BLOCK_SIZE
            continue
        if pos + _CHUNK_HEADER_SIZE > size:
            break
        _crc, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        start = pos + _CHUNK_HEADER_SIZE
        stop = start + length
        if stop > size or stop > block_end:
            break  # a torn tail (damage is for scan_run_file to report)
        pieces.append(data[start:stop])
        pos = stop
        if kind in (_FULL, _LAST):
            record = b"".join(pieces)
            pieces.clear()
            try:
                fields = _fields(record, 0, len(record))
            except ValueError as exc:
                raise CorruptFileError(path, pos, f"record is not a wandb Record ({exc})") from exc
            rows += any(f[0] == _HISTORY_FIELD and f[1] == 2 for f in fields)
    return rows


def _tag_positions(data: bytes) -> list[int]:
    """Every position of a run or exit field's tag bytes in ``data``, in order (a few
    ``bytes.find`` calls: much faster than a regular expression)."""
    found = []
    for tag in _TAGS:
        at = data.find(tag)
        while at >= 0:
            found.append(at)
            at = data.find(tag, at + 1)
    found.sort()
    return found


def _walk(path: Path, data: bytes) -> tuple[list[tuple[Chunk, ...]], int, int]:
    """Every chunk of ``data`` checked; returns the chunks of the records that may be Run
    or exit records, how many records there are, and where the last complete one ends.
    (Written for speed: this loop runs once per record of every run file.)"""
    unpack = _CHUNK_HEADER.unpack_from
    crc32 = zlib.crc32
    seeds = _CRC_SEEDS
    full_seed = seeds[_FULL]
    hsize = _CHUNK_HEADER_SIZE
    size = len(data)
    pos = complete = len(FILE_HEADER)
    block_end = BLOCK_SIZE
    records = 0
    pieces: list[Chunk] = []
    candidates: list[tuple[Chunk, ...]] = []
    # Where a run or exit field's tag bytes occur, found in one pass; a record holding
    # none cannot be a Run or exit record and is not decoded.
    tags = iter([*_tag_positions(data), size])
    tag = next(tags)
    while True:
        if pos + hsize > block_end:  # fewer than 7 bytes left: padding
            if size < block_end:
                break
            pos = block_end
            block_end += BLOCK_SIZE
            continue
        if pos + hsize > size:
            break
        crc, length, kind = unpack(data, pos)
        start = pos + hsize
        stop = start + length
        if kind == _FULL and stop <= block_end:
            if stop > size:
                break  # torn tail
            if crc32(data[start:stop], full_seed) != crc:
                raise CorruptFileError(path, pos, "checksum mismatch")
            if pieces:
                raise CorruptFileError(path, pos, "whole record inside a split record")
            records += 1
            if tag < stop:  # rare: tag bytes at or before this chunk's end
                hit = False
                while tag < stop:
                    hit = hit or start <= tag < stop - 1
                    tag = next(tags)
                if hit:
                    candidates.append(((pos, length, kind),))
            pos = complete = stop
            continue
        seed = seeds.get(kind)
        if seed is None:
            raise CorruptFileError(path, pos, f"unknown chunk type {kind}")
        if stop > block_end:
            raise CorruptFileError(
                path,
                pos,
                f"chunk of {length} bytes overruns its block ({block_end - pos} bytes left)",
            )
        if stop > size:
            break
        if crc32(data[start:stop], seed) != crc:
            raise CorruptFileError(path, pos, "checksum mismatch")
        if kind == _FIRST:
            if pieces:
                raise CorruptFileError(path, pos, "split record starts inside another")
        elif not pieces:
            raise CorruptFileError(path, pos, "continuation of a split record that never began")
        pieces.append((pos, length, kind))
        pos = stop
        if kind == _LAST:
            records += 1
            candidates.append(tuple(pieces))  # split records are few: always decoded
            pieces.clear()
            complete = pos
    return candidates, records, complete


def _join(data: bytes | bytearray, chunks: tuple[Chunk, ...]) -> bytes:
    hsize = _CHUNK_HEADER_SIZE
    return b"".join(bytes(data[p + hsize : p + hsize + n]) for p, n, _k in chunks)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes, start: int, stop: int) -> list[Field]:
    """The top-level fields of a message in ``data[start:stop]``: (number, wire type,
    payload start, field end, field start); raises ValueError for bytes that are not
    a message."""
    fields = []
    pos = start
    while pos < stop:
        begin = pos
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            payload = pos
            _, pos = _read_varint(data, pos)
        elif wire == 1:
            payload, pos = pos, pos + 8
        elif wire == 5:
            payload, pos = pos, pos + 4
        elif wire == 2:
            length, payload = _read_varint(data, pos)
            pos = payload + length
        else:
            raise ValueError(f"wire type {wire}")
        if pos > stop:
            raise ValueError("field overruns the message")
        fields.append((number, wire, payload, pos, begin))
    return fields

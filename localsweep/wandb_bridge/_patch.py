"""Check a run file in one pass, and stage a copy by patching its Run records in place.

:func:`scan_run_file` walks every chunk of a ``.wandb`` file (header, framing, CRC-32 of
each chunk, the order of split records: the checks
:class:`~localsweep.wandb_bridge._records.RecordReader` makes) and reads only the
records that can be Run or exit records, at the protobuf wire level (field numbers of
wandb 0.31's ``wandb_internal.proto``), so that neither wandb nor its protobuf classes
are imported: that takes most of a second. It notes where each Run record lies, and a
CRC-32 of the whole file, so that a later copy can be made without walking it again.

:func:`patch_run_file` makes that copy: when every Run record can be given the new sweep
id without changing its length, the blocks are laid out exactly as in the original, so
the copy is the original's bytes with only the Run records' chunks (their data and
CRCs) changed. wandb writes a Run record's sweep id as one ``sweep_id`` field; ours
(``ls-`` and 8 characters) is longer than W&B's (8 characters), so the field is written
as two ``sweep_id`` fields of the same total length, a short filler first and the
server's id last: protobuf keeps the last value of a field that appears more than once
(the "last one wins" rule of its encoding), in wandb's Go core as in Python. The copy is
then read back: it must equal the original outside the changed chunks, and each changed
Run record must hold the original's fields byte for byte but its ``sweep_id`` fields,
the last of which must be the new id. :func:`repatch_run_file` sets another id in such a
copy, writing and reading back only the Run records' chunks. When that
cannot be done (a length that cannot be matched, a file that changed since the scan),
it returns ``None`` and the caller rewrites the file record by record
(:func:`~localsweep.wandb_bridge._writer.rewrite_run_file`).

The chunk walk and the wire-level reading are :mod:`localsweep.wandb_bridge._wire`'s.

Tested against wandb 0.31.0.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from localsweep.wandb_bridge._logformat import (
    _CHUNK_HEADER,
    _CHUNK_HEADER_SIZE,
    _CRC_SEEDS,
    FILE_HEADER,
    CorruptFileError,
)
from localsweep.wandb_bridge._wire import (
    Chunk,
    Field,
    _fields,
    _join,
    _read_varint,
    _varint,
    _walk,
)

__all__ = [
    "PatchResult",
    "RunFileScan",
    "patch_run_file",
    "repatch_run_file",
    "scan_run_file",
]

# Field numbers of wandb 0.31's wandb_internal.proto.
_RUN_FIELD, _EXIT_FIELD = 17, 18  # Record.run, Record.exit
_RUN_ID_FIELD, _PROJECT_FIELD, _SWEEP_ID_FIELD = 1, 3, 12  # RunRecord
_START_TIME_FIELD, _RESUME_FIELD = 17, 24  # RunRecord.start_time, RunRecord.resume
_SECONDS_FIELD, _NANOS_FIELD = 1, 2  # google.protobuf.Timestamp
_EXIT_CODE_FIELD = 1  # RunExitRecord.exit_code (int32)
_SWEEP_ID_TAG = bytes([_SWEEP_ID_FIELD << 3 | 2])
_FILLER = b"-"


@dataclass(frozen=True)
class RunFileScan:
    """One pass over a run file: its run id and project, the sweep ids its Run records
    carry (in order of first appearance, ``""`` for none), its exit code (``None``
    without an exit record), how many records it holds; and for a later copy, the
    ``size`` of its complete records (a torn tail is left out), their ``crc``
    (``zlib.crc32``), and the chunks of each Run record. ``start_time`` (seconds since
    the epoch, ``None`` if not recorded) and ``resume`` (whether ``wandb.init`` was told
    to resume: ``wandb sync`` then appends the file to the run already on the server)
    are the first Run record's: what wandb sync orders and resumes the folders of one
    run by."""

    run_id: str | None
    project: str | None
    sweep_ids: tuple[str, ...]
    exit_code: int | None
    records: int
    size: int
    crc: int
    run_chunks: tuple[tuple[Chunk, ...], ...]
    start_time: float | None = None
    resume: bool = False


def scan_run_file(path: str | os.PathLike[str]) -> RunFileScan:
    """Check every chunk of a run file and read its Run and exit records. Raises
    :class:`CorruptFileError` for damage and ``FileNotFoundError`` for a missing file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no wandb transaction log at {path}")
    data = path.read_bytes()
    header = len(FILE_HEADER)
    if data[:header] != FILE_HEADER:
        if len(data) < header and data == FILE_HEADER[: len(data)]:
            return RunFileScan(None, None, (), None, 0, 0, 0, ())
        raise CorruptFileError(
            path, 0, f"bad file header {data[:header]!r}, expected {FILE_HEADER!r}"
        )
    candidates, records, size = _walk(path, data)
    run_id = project = None
    sweep_ids: list[str] = []
    exit_code = None
    run_chunks: list[tuple[Chunk, ...]] = []
    start_time: float | None = None
    resume = False
    for chunks in candidates:
        record = _join(data, chunks)
        try:
            fields = _fields(record, 0, len(record))
            run = [f for f in fields if f[0] == _RUN_FIELD and f[1] == 2]
            done = [f for f in fields if f[0] == _EXIT_FIELD and f[1] == 2]
            if run:
                run_chunks.append(chunks)
                values = _strings(record, run[-1], (_RUN_ID_FIELD, _PROJECT_FIELD, _SWEEP_ID_FIELD))
                run_id = values.get(_RUN_ID_FIELD) or run_id
                project = values.get(_PROJECT_FIELD) or project
                sweep = values.get(_SWEEP_ID_FIELD, "")
                if sweep not in sweep_ids:
                    sweep_ids.append(sweep)
                if len(run_chunks) == 1:
                    start_time, resume = _start_and_resume(record, run[-1])
            elif done:
                exit_code = _exit_code(record, done[-1])
        except ValueError as exc:
            raise CorruptFileError(
                path, chunks[-1][0], f"record is not a wandb Record message ({exc})"
            ) from exc
    crc = zlib.crc32(memoryview(data)[:size])
    return RunFileScan(
        run_id,
        project,
        tuple(sweep_ids),
        exit_code,
        records,
        size,
        crc,
        tuple(run_chunks),
        start_time,
        resume,
    )


def _start_and_resume(data: bytes, field: Field) -> tuple[float | None, bool]:
    """A RunRecord's ``start_time`` (seconds) and ``resume`` flag."""
    start: float | None = None
    resume = False
    for number, wire, payload, end, _begin in _fields(data, field[2], field[3]):
        if number == _START_TIME_FIELD and wire == 2:
            seconds = nanos = 0
            for sub, sub_wire, at, _e, _b in _fields(data, payload, end):
                if sub == _SECONDS_FIELD and sub_wire == 0:
                    seconds, _ = _read_varint(data, at)
                elif sub == _NANOS_FIELD and sub_wire == 0:
                    nanos, _ = _read_varint(data, at)
            start = seconds + nanos / 1e9
        elif number == _RESUME_FIELD and wire == 0:
            value, _ = _read_varint(data, payload)
            resume = bool(value)
    return start, resume


def _strings(data: bytes, field: Field, numbers: tuple[int, ...]) -> dict[int, str]:
    """The string fields ``numbers`` of the message in ``field`` (the last value of each)."""
    values = {}
    for number, wire, payload, end, _begin in _fields(data, field[2], field[3]):
        if number in numbers and wire == 2:
            values[number] = data[payload:end].decode()
    return values


def _exit_code(data: bytes, field: Field) -> int:
    code = 0
    for number, wire, payload, _end, _begin in _fields(data, field[2], field[3]):
        if number == _EXIT_CODE_FIELD and wire == 0:
            code, _ = _read_varint(data, payload)
    code &= 0xFFFFFFFF  # int32: negative values are sent as 64-bit two's complement
    return code - (1 << 32) if code >= 1 << 31 else code


# ------------------------------------------------------------------ the same-length copy


def _sweep_field(sweep_id: str, size: int) -> bytes | None:
    """``sweep_id`` encoded as a RunRecord field in exactly ``size`` bytes: the field
    alone, or a filler ``sweep_id`` field before it (the last value wins); ``None`` if no
    encoding has that size."""
    value = sweep_id.encode()
    field = _SWEEP_ID_TAG + _varint(len(value)) + value
    spare = size - len(field)
    if spare == 0:
        return field
    for filler in range(max(0, spare - 12), spare):
        pad = _SWEEP_ID_TAG + _varint(filler) + _FILLER * filler
        if len(pad) == spare:
            return pad + field
    return None


def _same_length_run_record(data: bytes, sweep_id: str) -> bytes | None:
    """The Record ``data`` (a Run record) with the sweep id set and the same length, or
    ``None`` when that cannot be done."""
    try:
        runs = [f for f in _fields(data, 0, len(data)) if f[0] == _RUN_FIELD]
        if len(runs) != 1 or runs[0][1] != 2:
            return None
        sweeps = [f for f in _fields(data, runs[0][2], runs[0][3]) if f[0] == _SWEEP_ID_FIELD]
    except ValueError:
        return None
    if not sweeps and sweep_id == "":
        return data  # no sweep id (a training run by hand): cleared as it is
    if len(sweeps) != 1 or sweeps[0][1] != 2:
        return None  # no sweep id to replace (the record would grow), or several
    _number, _wire, _payload, end, begin = sweeps[0]
    field = _sweep_field(sweep_id, end - begin)
    if field is None:
        return None
    return data[:begin] + field + data[end:]


def _same_but_sweep(old: bytes, new: bytes, sweep_id: str) -> bool:
    """Whether Record ``new`` is Record ``old`` (a Run record) with only its sweep id set
    to ``sweep_id``: every field the same bytes, but the Run's ``sweep_id`` fields, of
    which the last (the value a reader keeps) must be ``sweep_id``."""

    def parts(data: bytes) -> tuple[list[bytes], list[bytes], list[bytes]]:
        top, run, sweep = [], [], []
        for number, wire, payload, end, begin in _fields(data, 0, len(data)):
            if number != _RUN_FIELD or wire != 2:
                top.append(data[begin:end])
                continue
            for inner in _fields(data, payload, end):
                if inner[0] == _SWEEP_ID_FIELD:
                    sweep.append(data[inner[2] : inner[3]])
                else:
                    run.append(data[inner[4] : inner[3]])
        return top, run, sweep

    try:
        old_top, old_run, _old_sweep = parts(old)
        new_top, new_run, new_sweep = parts(new)
    except ValueError:
        return False
    last = new_sweep[-1].decode(errors="replace") if new_sweep else ""
    return old_top == new_top and old_run == new_run and last == sweep_id


@dataclass(frozen=True)
class PatchResult:
    """What :func:`patch_run_file` did: the Run records it changed, the bytes written,
    and each Run record's chunks with the original's bytes (for
    :func:`repatch_run_file`)."""

    changed: int
    bytes_written: int
    run_records: tuple[tuple[tuple[Chunk, ...], bytes], ...] = ()


def patch_run_file(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    scan: RunFileScan,
    *,
    sweep_id: str,
) -> PatchResult | None:
    """Copy ``source`` to ``dest`` (which must not exist) with every Run record's sweep id
    set to ``sweep_id``, the block layout unchanged, and check the copy (see the module
    docstring). ``scan`` is :func:`scan_run_file`'s for ``source``. Returns ``None``
    without writing anything when the copy cannot be made this way (the file changed
    since the scan, or a Run record would change length); raises
    :class:`CorruptFileError` for a copy that does not read back as expected."""
    source, dest = Path(source), Path(dest)
    data = source.read_bytes()
    if len(data) < scan.size or zlib.crc32(memoryview(data)[: scan.size]) != scan.crc:
        return None
    data = data[: scan.size]
    out = bytearray(data)
    patched: list[tuple[tuple[Chunk, ...], bytes]] = []
    originals: list[tuple[tuple[Chunk, ...], bytes]] = []
    for chunks in scan.run_chunks:
        old = _join(data, chunks)
        new = _same_length_run_record(old, sweep_id)
        if new is None:
            return None
        originals.append((chunks, old))
        if new == old:
            continue
        offset = 0
        for pos, length, kind in chunks:
            piece = new[offset : offset + length]
            offset += length
            out[pos : pos + _CHUNK_HEADER_SIZE] = _CHUNK_HEADER.pack(
                zlib.crc32(piece, _CRC_SEEDS[kind]), length, kind
            )
            out[pos + _CHUNK_HEADER_SIZE : pos + _CHUNK_HEADER_SIZE + length] = piece
        patched.append((chunks, old))
    with open(dest, "xb") as file:
        file.write(out)
    _check_patch(dest, data, patched, sweep_id)
    return PatchResult(len(patched), len(out), tuple(originals))


def repatch_run_file(dest: str | os.PathLike[str], patch: PatchResult, *, sweep_id: str) -> bool:
    """Set the sweep id of every Run record again in a copy :func:`patch_run_file` made
    (``patch`` is what it returned), writing only those records' chunks, and read them
    back: framing, CRCs, and each record the original's with only the sweep id changed.
    The rest of the copy was checked against the original when it was made. Returns
    ``False`` without writing anything when a record cannot keep its length; raises
    :class:`CorruptFileError` for chunks that do not read back as written."""
    dest = Path(dest)
    news = [_same_length_run_record(old, sweep_id) for _chunks, old in patch.run_records]
    if any(new is None for new in news) or dest.stat().st_size != patch.bytes_written:
        return False
    hsize = _CHUNK_HEADER_SIZE
    with open(dest, "r+b") as file:
        for (chunks, _old), new in zip(patch.run_records, news, strict=True):
            assert new is not None
            offset = 0
            for pos, length, kind in chunks:
                piece = new[offset : offset + length]
                offset += length
                file.seek(pos)
                file.write(_CHUNK_HEADER.pack(zlib.crc32(piece, _CRC_SEEDS[kind]), length, kind))
                file.write(piece)
    with open(dest, "rb") as file:
        for chunks, old in patch.run_records:
            pieces = []
            for pos, length, kind in chunks:
                file.seek(pos)
                chunk = file.read(hsize + length)
                crc, got_length, got_kind = _CHUNK_HEADER.unpack_from(chunk)
                data = chunk[hsize:]
                if (got_length, got_kind, len(data)) != (length, kind, length):
                    raise CorruptFileError(dest, pos, "a Run record's chunk header changed")
                if zlib.crc32(data, _CRC_SEEDS[kind]) != crc:
                    raise CorruptFileError(dest, pos, "checksum mismatch")
                pieces.append(data)
            if not _same_but_sweep(old, b"".join(pieces), sweep_id):
                raise CorruptFileError(
                    dest, chunks[0][0], "the Run record does not read back as the original's"
                )
    if dest.stat().st_size != patch.bytes_written:
        raise CorruptFileError(dest, 0, "the copy changed size")
    return True


def _check_patch(
    dest: Path, original: bytes, patched: list[tuple[tuple[Chunk, ...], bytes]], sweep_id: str
) -> None:
    """Read ``dest`` back: the original's bytes outside the patched chunks, and in them
    chunks with the same framing and valid CRCs holding each Run record with only its
    sweep id changed."""
    copy = dest.read_bytes()
    if len(copy) != len(original):
        raise CorruptFileError(dest, 0, f"the copy has {len(copy)} bytes, not {len(original)}")
    spans = sorted(
        (pos, pos + _CHUNK_HEADER_SIZE + length)
        for chunks, _old in patched
        for pos, length, _kind in chunks
    )
    at = 0
    for begin, end in [*spans, (len(copy), len(copy))]:
        if copy[at:begin] != original[at:begin]:
            raise CorruptFileError(dest, at, "the copy differs from the original here")
        at = end
    for chunks, old in patched:
        for pos, length, kind in chunks:
            crc, got_length, got_kind = _CHUNK_HEADER.unpack_from(copy, pos)
            data = copy[pos + _CHUNK_HEADER_SIZE : pos + _CHUNK_HEADER_SIZE + length]
            if (got_length, got_kind) != (length, kind):
                raise CorruptFileError(dest, pos, "a Run record's chunk header changed")
            if zlib.crc32(data, _CRC_SEEDS[kind]) != crc:
                raise CorruptFileError(dest, pos, "checksum mismatch")
        if not _same_but_sweep(old, _join(copy, chunks), sweep_id):
            raise CorruptFileError(
                dest, chunks[0][0], "the Run record does not read back as the original's"
            )

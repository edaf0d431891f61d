"""The chunk layout of a ``.wandb`` file, walked independently of localsweep's own code,
for the wandb_bridge tests to aim at bytes and compare layouts; and the Run and exit
records of a file decoded with wandb's own protobuf classes, to check localsweep's
wire-level scan against."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from wandb.proto import wandb_internal_pb2 as pb

from localsweep.wandb_bridge._writer import read_raw_records


@dataclass(frozen=True)
class Chunk:
    """Where one chunk sits in a file, found by walking the headers independently."""

    offset: int
    length: int
    kind: int

    @property
    def end(self) -> int:
        return self.offset + 7 + self.length


def chunk_layout(data: bytes) -> list[Chunk]:
    """Walk the chunk headers of an intact file without checking anything, to aim at bytes."""
    chunks = []
    pos = 7
    while pos + 7 <= len(data):
        room = 32 * 1024 - pos % (32 * 1024)
        if room < 7:
            pos += room
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        chunks.append(Chunk(pos, length, kind))
        pos += 7 + length
    return chunks


@dataclass(frozen=True)
class RunFileInfo:
    """A run file's Run and exit records as wandb's protobuf classes read them: the run id
    and project, the sweep ids (in order of first appearance, ``""`` for none), the exit
    code (``None`` without an exit record) and the number of records."""

    run_id: str | None
    project: str | None
    sweep_ids: tuple[str, ...]
    exit_code: int | None
    records: int


def inspect_run_file(path: str | os.PathLike[str]) -> RunFileInfo:
    """Check every chunk of a run file (localsweep's record reader) and decode its Run and
    exit records with wandb's protobuf classes: the oracle for the wire-level scan."""
    run_id = project = None
    sweep_ids: list[str] = []
    exit_code = None
    records = read_raw_records(path)
    for data in records:
        # Only records holding field 17 (run) or 18 (exit) are decoded.
        if b"\x8a\x01" not in data and b"\x92\x01" not in data:
            continue
        record = pb.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run_id = record.run.run_id or run_id
            project = record.run.project or project
            if record.run.sweep_id not in sweep_ids:
                sweep_ids.append(record.run.sweep_id)
        elif kind == "exit":
            exit_code = record.exit.exit_code
    return RunFileInfo(run_id, project, tuple(sweep_ids), exit_code, len(records))

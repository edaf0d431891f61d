"""The chunk layout of a ``.wandb`` file, walked independently of localsweep's own code,
for the wandb_bridge tests to aim at bytes and compare layouts."""

from __future__ import annotations

import struct
from dataclasses import dataclass


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

"""The framing of wandb's offline transaction log (``run-<id>.wandb``), without wandb.

The format (LevelDB's log format with a wandb header; see
:mod:`localsweep.wandb_bridge._datastore` for the records inside)::

    header   7 bytes   b":W&B", u16 LE 0xBEE1, u8 version 0
    blocks   32 KiB each; the first block includes the header
    chunk    u32 LE crc | u16 LE length | u8 type | <length> bytes of data
             type 1 FULL holds a whole record; a record too long for the rest of a
             block is split as 2 FIRST, 3 MIDDLE..., 4 LAST. crc is plain IEEE CRC-32
             (``zlib.crc32``) over the type byte followed by the data, unmasked.
    padding  when fewer than 7 bytes are left in a block, the writer zero-fills them
             and the next chunk starts at the next block

Kept apart from the reader so that code that only walks chunks (``localsweep sync``'s
checks) does not import wandb, which takes most of a second. Tested against wandb 0.31.0.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

from localsweep.errors import LocalsweepError

__all__ = ["BLOCK_SIZE", "FILE_HEADER", "CorruptFileError", "find_run_file"]

logger = logging.getLogger(__name__)

BLOCK_SIZE = 32 * 1024
FILE_HEADER = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
_CHUNK_HEADER = struct.Struct("<IHB")
_CHUNK_HEADER_SIZE = _CHUNK_HEADER.size

_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
# The checksum covers the type byte first, so each type's CRC state can be computed once.
_CRC_SEEDS = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}


class CorruptFileError(LocalsweepError):
    """A ``.wandb`` file is not a wandb transaction log, or a complete chunk in it is damaged.

    ``path`` is the file and ``offset`` the byte position of the bad header or chunk.
    """

    def __init__(self, path: Path, offset: int, reason: str):
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: corrupt wandb transaction log at byte {offset}: {reason}")


def find_run_file(run_dir: str | os.PathLike[str]) -> Path | None:
    """Return the ``run-<id>.wandb`` file inside a wandb run folder, or None if there is none.

    ``run_dir`` is a folder like ``wandb/offline-run-20250101_120000-abc123``. If it holds
    several logs (it should not), the one named after the folder's run id wins, else the
    newest.
    """
    run_dir = Path(run_dir)
    try:
        candidates = [p for p in run_dir.glob("run-*.wandb") if p.is_file()]
    except OSError:
        return None
    if not candidates:
        return None
    if len(candidates) > 1:
        run_id = run_dir.name.rsplit("-", 1)[-1]
        for candidate in candidates:
            if candidate.name == f"run-{run_id}.wandb":
                return candidate
        logger.warning("%s holds %d run files; using the newest", run_dir, len(candidates))
        return max(candidates, key=lambda p: p.stat().st_mtime)
    return candidates[0]

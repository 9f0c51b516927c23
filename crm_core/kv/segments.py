"""The journal's append-only segments: two preallocated files mapped into memory, where the
embedded KV's changes land before the journal's SQLite file has them (`crm_core/kv/journal.py`).

Appending a change is a copy into the mapping: no system call, so the ack path never hands the
GIL back to wait for a write. A page of a shared file mapping belongs to the OS's page cache,
so a change is as safe once copied as a SQLite WAL commit with synchronous=NORMAL: the process
may be killed at any point (the OS writes the page), only a power cut can lose the last ones.
The files are allocated in full when created, so a full disk cannot fault a write.

A segment file: an 8-byte magic, its generation and a folded flag (little-endian u64 each),
then records: generation (u64), payload length (u32), CRC-32 of the payload (u32), payload.
The active segment takes the appends; the journal's writer swaps the two, folds the one it
took out of service into SQLite and marks it folded. A record counts only when it carries its
segment's generation (which is never reused) and its CRC matches: after the last record of the
current generation come a torn record or older generations' leftovers, never a valid one.
"""
from __future__ import annotations

import mmap
import os
import struct
import zlib
from pathlib import Path

MAGIC = b"CRMKVSG1"
_HEAD = struct.Struct("<8sQQ")      # magic, generation, folded (0 | 1)
_REC = struct.Struct("<QII")        # generation, payload length, CRC-32
SEGMENT_BYTES = 4 * 1024 * 1024     # each of the two; ~5 s of a callback flood if the fold stalls


class Segment:
    """One mapped segment file."""

    def __init__(self, path: Path, size: int = SEGMENT_BYTES) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            have = os.fstat(fd).st_size
            if have < max(size, _HEAD.size + _REC.size):
                os.posix_fallocate(fd, 0, size)      # real blocks: no SIGBUS on a full disk later
                have = size
            self._map = mmap.mmap(fd, have)
        finally:
            os.close(fd)
        magic, self.gen, folded = _HEAD.unpack_from(self._map, 0)
        if magic != MAGIC:              # new (zeros) or not ours: nothing in it counts
            self.gen, folded = 0, 1
            _HEAD.pack_into(self._map, 0, MAGIC, 0, 1)
        self.folded = bool(folded)
        self.end = _HEAD.size           # where the next append goes (while active)

    @property
    def empty(self) -> bool:
        return self.end == _HEAD.size

    def activate(self, gen: int) -> None:
        """Take appends from now on, as generation `gen` (higher than any before)."""
        self.gen, self.folded, self.end = gen, False, _HEAD.size
        _HEAD.pack_into(self._map, 0, MAGIC, gen, 0)

    def mark_folded(self) -> None:
        """Everything in it is in SQLite: a restart does not replay it."""
        self.folded = True
        _HEAD.pack_into(self._map, 0, MAGIC, self.gen, 1)

    def append(self, payload: bytes) -> bool:
        """Copy one record in; False (and nothing written) when it does not fit."""
        start, end = self.end + _REC.size, self.end + _REC.size + len(payload)
        if end > len(self._map):
            return False
        self._map[start:end] = payload
        _REC.pack_into(self._map, self.end, self.gen, len(payload), zlib.crc32(payload))
        self.end = end
        return True

    def make_room(self, n: int) -> None:
        """Grow the file, while folded, so that a record of `n` payload bytes fits when empty
        (a change bigger than the segment: rare, the callback body limit is 1 MiB)."""
        need = _HEAD.size + _REC.size + n
        if need <= len(self._map):
            return
        size = max(2 * len(self._map), need)
        fd = os.open(self.path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
            self._map.close()
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    def records(self) -> list[bytes]:
        """The payloads of this generation, in order (none once folded)."""
        if self.folded or self.gen == 0:
            return []
        out, at, size = [], _HEAD.size, len(self._map)
        while at + _REC.size <= size:
            gen, n, crc = _REC.unpack_from(self._map, at)
            start, end = at + _REC.size, at + _REC.size + n
            if gen != self.gen or n == 0 or end > size:
                break
            payload = self._map[start:end]
            if zlib.crc32(payload) != crc:
                break
            out.append(payload)
            at = end
        self.end = at
        return out

    def close(self) -> None:
        self._map.close()


def open_pair(base: Path, size: int = SEGMENT_BYTES) -> tuple[Segment, Segment]:
    """The two segments of the journal at `base` (`<base>-seg0`, `<base>-seg1`)."""
    return Segment(Path(f"{base}-seg0"), size), Segment(Path(f"{base}-seg1"), size)

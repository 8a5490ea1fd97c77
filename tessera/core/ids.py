"""64-bit time-ordered ids: Unix milliseconds << 16 | sequence << 8 | logical shard.

This is Mastodon's layout (so clients that turn dates into ids keep working) holding
Instagram's idea of a logical shard: everything a user creates carries the shard of the
user's own id, so a user's rows can later move together. The sequence sits above the
shard so that ids made by one process increase strictly, whatever their shards.
"""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["SHARDS", "id_from_ms", "new_id", "shard_of"]

SHARDS = 256
_SEQUENCE_SIZE = 256


class _Generator:
    """Per-process id source, strictly increasing. Each millisecond's sequence starts at
    a random point in its lower half, so that two processes writing the same shard in
    the same millisecond rarely collide, and counts up without wrapping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._sequence = 0

    def next(self, shard: int) -> int:
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now > self._last_ms:
                self._last_ms, self._sequence = now, secrets.randbelow(_SEQUENCE_SIZE // 2)
            elif self._sequence + 1 < _SEQUENCE_SIZE:
                self._sequence += 1
            else:
                # The sequence is spent for this millisecond: borrow the next one.
                self._last_ms += 1
                self._sequence = secrets.randbelow(_SEQUENCE_SIZE // 2)
            return id_from_ms(self._last_ms, shard, self._sequence)


_generator = _Generator()


def id_from_ms(ms: int, shard: int = 0, sequence: int = 0) -> int:
    """The id for a moment; with shard and sequence 0 it is the lowest id of that millisecond."""
    return (ms << 16) | ((sequence % _SEQUENCE_SIZE) << 8) | (shard % SHARDS)


def shard_of(entity_id: int) -> int:
    """The logical shard an id belongs to."""
    return entity_id & (SHARDS - 1)


def new_id(owner_id: int | None = None) -> int:
    """A fresh id: in `owner_id`'s shard when given, else in a random one (new users)."""
    shard = shard_of(owner_id) if owner_id is not None else secrets.randbelow(SHARDS)
    return _generator.next(shard)

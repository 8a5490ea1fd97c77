"""Hot caches: in-process when embedded, Redis when scaled; evicted after commits.

Values are bytes under a key and a field (a Redis hash), so everything cached about one
thing (say, an account's renderings) goes with one delete. Writers never update a cache:
they name the keys their transaction made stale (`evict_after_commit`) and the session
scope deletes them once the commit has succeeded, so no reader can re-cache old data
from before the commit for longer than the entry's TTL.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.redis_client import RedisClient

__all__ = [
    "Cache",
    "MemoryCache",
    "RedisCache",
    "evict_after_commit",
    "read_through",
    "skip_cached",
    "stale_keys",
]

_EVICT = "tessera.evict"
_SKIP = "tessera.skip_cached"


class Cache(Protocol):
    async def get(self, key: str, field: str) -> bytes | None: ...

    async def set(self, key: str, field: str, value: bytes, ttl: int) -> None: ...

    async def get_many(self, keys: Collection[str], field: str) -> list[bytes | None]: ...

    async def set_many(self, values: Mapping[str, bytes], field: str, ttl: int) -> None: ...

    async def delete(self, *keys: str) -> None: ...


class MemoryCache:
    """A bounded dict for the single embedded process; the oldest keys go first."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self._entries: dict[str, tuple[float, dict[str, bytes]]] = {}
        self._max_keys = max_keys

    async def get(self, key: str, field: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1].get(field)

    async def set(self, key: str, field: str, value: bytes, ttl: int) -> None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            if len(self._entries) >= self._max_keys:
                del self._entries[next(iter(self._entries))]
            entry = (time.monotonic() + ttl, {})
            self._entries[key] = entry
        entry[1][field] = value

    async def get_many(self, keys: Collection[str], field: str) -> list[bytes | None]:
        return [await self.get(key, field) for key in keys]

    async def set_many(self, values: Mapping[str, bytes], field: str, ttl: int) -> None:
        for key, value in values.items():
            await self.set(key, field, value, ttl)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)


class RedisCache:
    """Shared by every process; keys carry the instance's prefix. Each command names one
    key, or (`delete`) keys a cluster client splits by slot, so a Redis Cluster works too."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "cache:"

    async def get(self, key: str, field: str) -> bytes | None:
        value = await self._redis.hget(self._prefix + key, field)
        return value if isinstance(value, bytes) or value is None else value.encode()

    async def set(self, key: str, field: str, value: bytes, ttl: int) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._prefix + key, field, value)
            pipe.expire(self._prefix + key, ttl, nx=True)
            await pipe.execute()

    async def get_many(self, keys: Collection[str], field: str) -> list[bytes | None]:
        """One round trip for a whole page of entries."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(self._prefix + key, field)
            return list(await pipe.execute())

    async def set_many(self, values: Mapping[str, bytes], field: str, ttl: int) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in values.items():
                pipe.hset(self._prefix + key, field, value)
                pipe.expire(self._prefix + key, ttl, nx=True)
            await pipe.execute()

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._prefix + key for key in keys))


def evict_after_commit(session: AsyncSession, *keys: str) -> None:
    """Mark cache keys this transaction makes stale; they go once it commits."""
    session.info.setdefault(_EVICT, set()).update(keys)


def skip_cached(session: AsyncSession) -> None:
    """The session's `read_through` reads no cached value (and caches what it loads): its
    account wrote something that a read of a lagging replica may have cached as it was
    before (`core/replica.py`)."""
    session.info[_SKIP] = True


def stale_keys(session: AsyncSession) -> list[str]:
    """The keys marked so far (and forget them)."""
    return sorted(session.info.pop(_EVICT, ()))


async def read_through(
    cache: Cache | None,
    session: AsyncSession,
    ids: Collection[int],
    key_of: Callable[[int], str],
    field: str,
    ttl: int,
    load: Callable[[list[int]], Awaitable[dict[int, bytes]]],
) -> dict[int, bytes]:
    """Cached values for a batch of ids in one round trip; the misses come from `load`
    in one call and are cached. Keys this transaction has made stale are neither read
    nor written, so a request sees its own changes; after `skip_cached`, none is read.
    Without a cache, all are loaded."""
    if cache is None:
        return await load(list(dict.fromkeys(ids)))
    stale = session.info.get(_EVICT, set())
    wanted = (
        [] if _SKIP in session.info else [i for i in dict.fromkeys(ids) if key_of(i) not in stale]
    )
    values = await cache.get_many([key_of(i) for i in wanted], field) if wanted else []
    found = dict(zip(wanted, values, strict=True))
    hits = {i: value for i, value in found.items() if value is not None}
    missing = [i for i in dict.fromkeys(ids) if i not in hits]
    if not missing:
        return hits
    loaded = await load(missing)
    fresh = {key_of(i): value for i, value in loaded.items() if key_of(i) not in stale}
    if fresh:
        await cache.set_many(fresh, field, ttl)
    return hits | loaded

"""Where home feeds live: SQL rows (embedded) or Redis sorted sets (when Redis is set).

A feed holds the ids of posts pushed to its owner (fan-out, backfill), newest kept,
capped at `TESSERA_FEED_SIZE`. Its owner's own posts and celebrities' posts are not in
it: they are merged in when the feed is read. Every write may be repeated (delivery is
at-least-once) and leaves the same result.

On a Redis Cluster a script may only touch keys of one slot. A feed's keys carry its
owner's shard tag (`core.redis_client.owner_tag`), so the fan-out groups feeds by shard:
one script call per shard's chunk, at most `SHARDS` groups whatever the follower count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar, cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from sqlalchemy.ext.asyncio import AsyncSession

from tessera import posts
from tessera.core.ids import shard_of
from tessera.core.pagination import Page
from tessera.core.redis_client import RedisClient, owner_tag
from tessera.feed import repository

__all__ = ["BATCH", "FeedStore", "RedisFeedStore", "SqlFeedStore", "feed_key"]

T = TypeVar("T")

BATCH = 1000
"""Rows written per SQL statement."""


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class FeedStore(Protocol):
    async def add(
        self, session: AsyncSession, account_ids: Sequence[int], post_id: int, author_id: int
    ) -> None:
        """Put one post into these feeds."""
        ...

    async def add_entries(
        self, session: AsyncSession, account_id: int, entries: Sequence[tuple[int, int]]
    ) -> None:
        """Put these (post id, author id) into one feed."""
        ...

    async def rebuild(
        self, session: AsyncSession, account_id: int, entries: Sequence[tuple[int, int]]
    ) -> None:
        """Fill a missing feed; afterwards it exists, even when `entries` is empty."""
        ...

    async def page(self, session: AsyncSession, account_id: int, page: Page) -> list[int] | None:
        """One page of post ids, newest first; None when the feed is missing."""
        ...

    async def remove_author(self, session: AsyncSession, account_id: int, author_id: int) -> None:
        """Take the author's posts out of one feed."""
        ...

    async def remove_post(
        self, session: AsyncSession, post_id: int, account_ids: Sequence[int]
    ) -> None:
        """Take a post out of the feeds holding it (`account_ids`: all that may)."""
        ...


class SqlFeedStore:
    """Rows of `home_feed_entries`, written in the caller's transaction. A feed with no
    rows counts as missing (rebuilding an empty one costs two small queries)."""

    def __init__(self, size: int) -> None:
        self.size = size

    async def add(
        self, session: AsyncSession, account_ids: Sequence[int], post_id: int, author_id: int
    ) -> None:
        for chunk in batched(account_ids, BATCH):
            await repository.add(session, [(a, post_id, author_id) for a in chunk])
            await repository.trim(session, chunk, self.size)

    async def add_entries(
        self, session: AsyncSession, account_id: int, entries: Sequence[tuple[int, int]]
    ) -> None:
        for chunk in batched(entries, BATCH):
            await repository.add(session, [(account_id, p, a) for p, a in chunk])
        await repository.trim(session, [account_id], self.size)

    async def rebuild(
        self, session: AsyncSession, account_id: int, entries: Sequence[tuple[int, int]]
    ) -> None:
        await self.add_entries(session, account_id, entries)

    async def page(self, session: AsyncSession, account_id: int, page: Page) -> list[int] | None:
        ids = await repository.page(session, account_id, page)
        if not ids and not await repository.has_entries(session, account_id):
            return None
        return ids

    async def remove_author(self, session: AsyncSession, account_id: int, author_id: int) -> None:
        await repository.remove_author(session, account_id, author_id)

    async def remove_post(
        self, session: AsyncSession, post_id: int, account_ids: Sequence[int]
    ) -> None:
        await repository.remove_post(session, post_id)


SCRIPT_KEYS = 1000
"""Feeds one Lua script call writes: enough to make the call's cost vanish, few enough
that Redis (one thread) stalls other clients for only a millisecond or two per call."""
SCRIPT_CALLS = 10
"""Script calls sent per Redis pipeline."""

_ADD = """
-- KEYS: feeds. ARGV[1]: the post id (member and score). ARGV[2]: -(cap + 1).
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[1])
  redis.call('ZREMRANGEBYRANK', key, 0, ARGV[2])
end
return #KEYS
"""
_REMOVE = """
-- KEYS: feeds. ARGV[1]: the post id.
for _, key in ipairs(KEYS) do
  redis.call('ZREM', key, ARGV[1])
end
return #KEYS
"""

SLACK = 16
"""Extra members read past a page: scores are doubles, so ids closer than a double's
precision (about 16 at today's ids) may share a score; exact bounds are applied after."""


def feed_key(prefix: str, account_id: int) -> str:
    """The Redis key of one home feed (`prefix`: `TESSERA_REDIS_PREFIX`)."""
    return f"{prefix}feed:{owner_tag(account_id)}:{account_id}"


class RedisFeedStore:
    """A sorted set per feed (member and score: the post id) and a marker key set once
    the feed was built, so that an empty feed differs from a missing (flushed) one. Both
    keys of a feed share a hash slot (a rebuild writes them in one transaction)."""

    def __init__(self, redis: RedisClient, prefix: str, size: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.size = size
        self._add = redis.register_script(_ADD)
        self._remove = redis.register_script(_REMOVE)

    def key(self, account_id: int) -> str:
        return feed_key(self.prefix, account_id)

    def marker(self, account_id: int) -> str:
        return f"{self.key(account_id)}:built"

    async def add(
        self, session: AsyncSession, account_ids: Sequence[int], post_id: int, author_id: int
    ) -> None:
        # Every follower's set gets the post, built or not (as before): a rebuild then only
        # adds to it, so a rebuild racing this fan-out cannot lose the post.
        await self._each_feed(self._add, account_ids, [post_id, -(self.size + 1)])

    async def _each_feed(
        self, script: AsyncScript, account_ids: Sequence[int], args: list[int]
    ) -> None:
        """Run a per-feed script over many feeds: `SCRIPT_KEYS` feeds per call,
        `SCRIPT_CALLS` calls per pipeline (one round trip)."""
        redis = self.redis
        if not isinstance(redis, Redis):  # a Redis Cluster
            await self._each_shard(script, account_ids, args)
            return
        for calls in batched(account_ids, SCRIPT_KEYS * SCRIPT_CALLS):
            async with redis.pipeline(transaction=False) as pipe:
                for chunk in batched(calls, SCRIPT_KEYS):
                    await script([self.key(a) for a in chunk], args, client=pipe)
                await pipe.execute()

    async def _each_shard(
        self, script: AsyncScript, account_ids: Sequence[int], args: list[int]
    ) -> None:
        """The cluster's way: a call's keys must share a slot, so one call per shard's
        chunk of `SCRIPT_KEYS` feeds. A cluster client pipelines no script, and concurrent
        calls gained nothing when measured, so the calls go one after the other."""
        shards: defaultdict[int, list[int]] = defaultdict(list)
        for account_id in account_ids:
            shards[shard_of(account_id)].append(account_id)
        for members in shards.values():
            for chunk in batched(members, SCRIPT_KEYS):
                await script([self.key(a) for a in chunk], args)

    async def add_entries(
        self, session: AsyncSession, account_id: int, entries: Sequence[tuple[int, int]]
    ) -> None:
        if not entries:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.key(account_id), {str(p): p for p, _ in entries})
            pipe.zremrangebyrank(self.key(account_id), 0, -(self.size + 1))
            await pipe.execute()

    async def rebuild(
        self, session: AsyncSession, account_id: int, entries: Sequence[tuple[int, int]]
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if entries:
                pipe.zadd(self.key(account_id), {str(p): p for p, _ in entries})
                pipe.zremrangebyrank(self.key(account_id), 0, -(self.size + 1))
            pipe.set(self.marker(account_id), b"1")
            await pipe.execute()

    async def page(self, session: AsyncSession, account_id: int, page: Page) -> list[int] | None:
        lower = max(page.since_id or 0, page.min_id or 0)
        upper = page.max_id
        count = page.limit + SLACK
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.marker(account_id))
            if page.ascending:
                pipe.zrangebyscore(
                    self.key(account_id), lower, "+inf" if upper is None else upper, 0, count
                )
            else:
                pipe.zrevrangebyscore(
                    self.key(account_id), "+inf" if upper is None else upper, lower, 0, count
                )
            built, members = await pipe.execute()
        if not built:
            return None
        ids = sorted(
            (
                post_id
                for post_id in map(int, members)
                if post_id > lower and (upper is None or post_id < upper)
            ),
            reverse=not page.ascending,
        )[: page.limit]
        return ids[::-1] if page.ascending else ids

    async def remove_author(self, session: AsyncSession, account_id: int, author_id: int) -> None:
        # Members are bare post ids, and the feed is capped: ask the posts service whose
        # they are (deleted posts are taken out by their own event).
        raw = await self.redis.zrange(self.key(account_id), 0, -1)
        members = [int(cast(bytes, member)) for member in raw]
        authors = await posts.authors_of(session, members)
        theirs = [str(p) for p in members if authors.get(p) == author_id]
        if theirs:
            await self.redis.zrem(self.key(account_id), *theirs)

    async def remove_post(
        self, session: AsyncSession, post_id: int, account_ids: Sequence[int]
    ) -> None:
        await self._each_feed(self._remove, account_ids, [post_id])

"""Shared steps for the feed tests: follows, timelines, waiting for the relay, wiping feeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import delete, select

from tessera.core.ids import shard_of
from tessera.core.runtime import Runtime
from tessera.feed.models import HomeFeedEntry
from tessera.feed.service import feeds_of
from tessera.feed.stores import RedisFeedStore
from tests.accounts.helpers import db, runtime_of
from tests.conftest import User

HOME = "/api/v1/timelines/home"
PUBLIC = "/api/v1/timelines/public"


async def settle(client: httpx.AsyncClient) -> None:
    """Wait until the app's relay has handed every committed event to the handlers."""
    await runtime_of(client).relay.idle()


async def follow(client: httpx.AsyncClient, user: User, target: User) -> dict[str, Any]:
    response = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=user.auth)
    assert response.status_code == 200, response.text
    await settle(client)
    body: dict[str, Any] = response.json()
    return body


async def unfollow(client: httpx.AsyncClient, user: User, target: User) -> None:
    response = await client.post(f"/api/v1/accounts/{target.id}/unfollow", headers=user.auth)
    assert response.status_code == 200, response.text
    await settle(client)


async def delete_status(client: httpx.AsyncClient, user: User, status_id: str) -> None:
    response = await client.delete(f"/api/v1/statuses/{status_id}", headers=user.auth)
    assert response.status_code == 200, response.text
    await settle(client)


async def timeline(
    client: httpx.AsyncClient, path: str, user: User | None = None, **params: Any
) -> httpx.Response:
    response = await client.get(path, headers=user.auth if user else {}, params=params)
    assert response.status_code == 200, response.text
    return response


async def home(client: httpx.AsyncClient, user: User, **params: Any) -> list[str]:
    """The ids of one page of the user's home timeline (40 newest unless told)."""
    response = await timeline(client, HOME, user, **{"limit": 40, **params})
    return [status["id"] for status in response.json()]


async def wipe_feed(client: httpx.AsyncClient, user: User | None = None) -> None:
    """Lose stored home feeds (one user's, or all), as a flushed Redis would."""
    runtime = runtime_of(client)
    if runtime.redis is None:
        async with db(client) as session:
            statement = delete(HomeFeedEntry)
            if user is not None:
                statement = statement.where(HomeFeedEntry.account_id == int(user.id))
            await session.execute(statement)
        return
    if user is not None:
        store = RedisFeedStore(runtime.redis, runtime.settings.redis_prefix, 0)
        await runtime.redis.delete(store.key(int(user.id)), store.marker(int(user.id)))
        return
    pattern = f"{runtime.settings.redis_prefix}feed:*"
    keys = [key async for key in runtime.redis.scan_iter(match=pattern, count=1000)]
    if keys:
        await runtime.redis.delete(*keys)


async def feed_exists(client: httpx.AsyncClient, user: User) -> bool:
    """Whether the user's stored feed is there (rows, or the Redis marker)."""
    runtime = runtime_of(client)
    if runtime.redis is None:
        async with db(client) as session:
            found = await session.scalar(
                select(HomeFeedEntry.post_id)
                .where(HomeFeedEntry.account_id == int(user.id))
                .limit(1)
            )
            return found is not None
    store = RedisFeedStore(runtime.redis, runtime.settings.redis_prefix, 0)
    return bool(await runtime.redis.exists(store.marker(int(user.id))))


async def stored_ids(client: httpx.AsyncClient, user: User) -> set[int]:
    """The post ids in the user's stored feed (not what the timeline merges in)."""
    return set((await stored_feeds(runtime_of(client), [int(user.id)]))[int(user.id)])


CHUNK = 5000
"""Feeds read per query or Redis script call."""
_MEMBERS = """
local found = {}
for i, key in ipairs(KEYS) do found[i] = redis.call('ZRANGE', key, 0, -1) end
return found
"""


async def stored_feeds(runtime: Runtime, account_ids: Sequence[int]) -> dict[int, list[int]]:
    """The post ids in each of these stored feeds, ascending, as many times as stored."""
    feeds: dict[int, list[int]] = {account_id: [] for account_id in account_ids}
    store = feeds_of(runtime).store
    if not isinstance(store, RedisFeedStore):
        for start in range(0, len(account_ids), CHUNK):
            async with runtime.sessions() as session:
                rows = await session.execute(
                    select(HomeFeedEntry.account_id, HomeFeedEntry.post_id).where(
                        HomeFeedEntry.account_id.in_(account_ids[start : start + CHUNK])
                    )
                )
                for account_id, post_id in rows:
                    feeds[account_id].append(post_id)
        return {account_id: sorted(posts) for account_id, posts in feeds.items()}
    return await redis_feeds(store, account_ids)


async def redis_feeds(store: RedisFeedStore, account_ids: Sequence[int]) -> dict[int, list[int]]:
    """`stored_feeds` of a Redis store, one Redis server's or a Redis Cluster's."""
    feeds: dict[int, list[int]] = {account_id: [] for account_id in account_ids}
    # One script call per shard's chunk, not a pipeline: packing 5000 commands costs a
    # second in Python; a shard's feeds share a Redis Cluster slot.
    shards: dict[int, list[int]] = {}
    for account_id in account_ids:
        shards.setdefault(shard_of(account_id), []).append(account_id)
    for members in shards.values():
        for start in range(0, len(members), CHUNK):
            chunk = members[start : start + CHUNK]
            found = await store.redis.eval(_MEMBERS, len(chunk), *map(store.key, chunk))
            for account_id, posts in zip(chunk, found, strict=True):
                feeds[account_id].extend(int(member) for member in posts)
    return {account_id: sorted(posts) for account_id, posts in feeds.items()}

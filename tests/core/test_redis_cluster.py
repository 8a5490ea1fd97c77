"""The scaled mode on a Redis Cluster (`TESSERA_REDIS_CLUSTER`): feeds, caches, rate limits
and live events, on three masters that this module starts (`tests/redis_cluster.py`).

Two apps stand for two API processes: each has its own runtime and Redis connections,
and each names a different node in `TESSERA_REDIS_URL`. They share a fresh database, so
that no other app of the session hands their events to handlers outside the cluster.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from tessera.api import create_app
from tessera.core.config import load_settings
from tessera.core.ids import SHARDS, id_from_ms
from tessera.core.streaming import StreamEvent, user_channel
from tessera.feed.stores import SCRIPT_KEYS, RedisFeedStore
from tests.accounts.helpers import runtime_of, unique_prefix
from tests.conftest import (
    BACKEND,
    REDIS_URL,
    Backend,
    MakeBackend,
    User,
    register_oauth_client,
    sign_up_user,
)
from tests.feed.helpers import home, redis_feeds, settle
from tests.posts.helpers import publish
from tests.redis_cluster import REDIS_SERVER, RedisCluster, start_cluster

pytestmark = pytest.mark.skipif(BACKEND != "scaled", reason="Redis Cluster backs the scaled mode")

WITHIN = 10.0
"""Seconds a live event may take to arrive."""


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    if not Path(REDIS_SERVER).exists():
        message = f"{REDIS_SERVER} not found (Debian's redis-server package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required because CI=true)")
        pytest.skip(message)
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@asynccontextmanager
async def app_client(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app on these settings, started, and a client of it."""
    app = create_app(load_settings(**settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as client:
            yield client


@pytest.fixture(scope="module")
async def cluster_backend(
    make_backend: MakeBackend, redis_cluster: RedisCluster
) -> AsyncIterator[Backend]:
    async with make_backend() as backend:
        yield backend


def on_cluster(backend: Backend, cluster: RedisCluster, node: int, **extra: Any) -> dict[str, Any]:
    return {
        **backend.settings_overrides,
        "redis_url": cluster.url(node),
        "redis_cluster": True,
        **extra,
    }


@pytest.fixture(scope="module")
async def apps(
    cluster_backend: Backend, redis_cluster: RedisCluster
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        app_client(**on_cluster(cluster_backend, redis_cluster, 0)) as first,
        app_client(**on_cluster(cluster_backend, redis_cluster, 1)) as second,
    ):
        yield first, second


async def settled(*clients: httpx.AsyncClient) -> None:
    """Every app's relay has handed what was committed to the handlers."""
    for client in clients:
        await settle(client)


async def users(client: httpx.AsyncClient, *stems: str) -> list[User]:
    oauth = await register_oauth_client(client)
    return [await sign_up_user(client, oauth, stem) for stem in stems]


async def test_timelines_and_caches_live_in_the_cluster(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient],
    cluster_backend: Backend,
    redis_cluster: RedisCluster,
) -> None:
    first, second = apps
    author, fan = await users(first, "author", "fan")
    follow = await second.post(f"/api/v1/accounts/{author.id}/follow", headers=fan.auth)
    assert follow.status_code == 200, follow.text
    posts = [(await publish(first, author, f"post {n}"))["id"] for n in range(3)]
    await settled(first, second)
    assert await home(second, fan) == posts[::-1]
    assert await home(first, fan, limit=2) == posts[:0:-1]

    # The profile cache is shared: a change made through one app shows through the other.
    assert (await second.get("/api/v1/accounts/verify_credentials", headers=fan.auth)).is_success
    changed = await first.patch(
        "/api/v1/accounts/update_credentials", headers=fan.auth, data={"display_name": "Moved"}
    )
    assert changed.status_code == 200, changed.text
    me = await second.get("/api/v1/accounts/verify_credentials", headers=fan.auth)
    assert me.json()["display_name"] == "Moved"

    deleted = await first.delete(f"/api/v1/statuses/{posts[1]}", headers=author.auth)
    assert deleted.status_code == 200, deleted.text
    await settled(first, second)
    assert await home(second, fan) == [posts[2], posts[0]]
    unfollowed = await first.post(f"/api/v1/accounts/{author.id}/unfollow", headers=fan.auth)
    assert unfollowed.status_code == 200, unfollowed.text
    await settled(first, second)
    assert await home(second, fan) == []

    # All of it was in the cluster, nothing on the suite's own Redis; a feed's keys
    # (the set and its built marker) share a hash slot.
    prefix = cluster_backend.settings_overrides["redis_prefix"]
    standalone = Redis.from_url(REDIS_URL)
    try:
        assert [key async for key in standalone.scan_iter(match=f"{prefix}*")] == []
    finally:
        await standalone.aclose()
    cluster = runtime_of(second).redis
    assert isinstance(cluster, ClusterClient)
    store = RedisFeedStore(cluster, prefix, 0)
    assert await cluster.exists(store.marker(int(fan.id)))
    assert cluster.keyslot(store.key(int(fan.id))) == cluster.keyslot(store.marker(int(fan.id)))


async def test_live_events_reach_a_process_on_another_node(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """The two apps' hubs talk to different nodes: the cluster relays their pub/sub."""
    first, second = apps
    author, fan = await users(first, "streamed", "liker")
    follow = await first.post(f"/api/v1/accounts/{author.id}/follow", headers=fan.auth)
    assert follow.status_code == 200, follow.text
    await settled(first, second)
    hub = runtime_of(second).streams
    async with (
        hub.subscribe([user_channel(int(author.id))]) as authors,
        hub.subscribe([user_channel(int(fan.id))]) as fans,
    ):
        post = (await publish(first, author, "live"))["id"]
        assert await fans.next(WITHIN) == StreamEvent("update", post)
        assert await authors.next(WITHIN) == StreamEvent("update", post)
        liked = await first.post(f"/api/v1/statuses/{post}/favourite", headers=fan.auth)
        assert liked.status_code == 200, liked.text
        notification = await authors.next(WITHIN)
    newest = (await second.get("/api/v1/notifications", headers=author.auth)).json()[0]
    assert newest["type"] == "favourite"
    assert notification == StreamEvent("notification", newest["id"])


async def test_the_api_budget_is_one_across_processes(
    cluster_backend: Backend, redis_cluster: RedisCluster
) -> None:
    tight = on_cluster(
        cluster_backend,
        redis_cluster,
        0,
        ratelimit_api="3 per minute",
        redis_prefix=unique_prefix(cluster_backend.settings_overrides),
    )
    async with (
        app_client(**tight) as first,
        app_client(**{**tight, "redis_url": redis_cluster.url(2)}) as second,
    ):
        answers = [await app.get("/api/v1/instance") for app in (first, second, first, second)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].json() == {"error": "Too many requests"}


async def test_fan_out_writes_the_same_feeds_on_a_cluster_as_on_one_server(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient],
    redis_cluster: RedisCluster,
    cluster_backend: Backend,
) -> None:
    """The cluster's per-shard script calls against the one-server pipelines: the same
    operations leave the same feeds (with more followers in one shard than a call takes,
    and feeds that overflow their cap)."""
    prefix = unique_prefix(cluster_backend.settings_overrides)
    ms = 1_800_000_000_000
    crowded = [id_from_ms(ms + n, shard=7) for n in range(SCRIPT_KEYS + 200)]
    spread = [id_from_ms(ms + n, shard=random.randrange(SHARDS)) for n in range(3000)]
    followers = sorted({*crowded, *spread})
    posts = [id_from_ms(ms + 10_000 + n, sequence=secrets.randbelow(256)) for n in range(6)]
    one_server, cluster = Redis.from_url(REDIS_URL), ClusterClient.from_url(redis_cluster.url())
    try:
        results = []
        async with runtime_of(apps[0]).sessions() as session:  # the stores need none
            for redis in (one_server, cluster):
                store = RedisFeedStore(redis, prefix, size=4)
                for post in posts:
                    await store.add(session, followers, post, 1)
                await store.remove_post(session, posts[-1], followers[::2])
                await store.add(session, followers[::3], posts[-1], 1)
                results.append(await redis_feeds(store, followers))
        assert results[0] == results[1]
        newest = sorted(posts[-4:])
        assert [results[1][followers[n]] for n in range(3)] == [newest, newest, newest[:-1]]
    finally:
        keys = [key async for key in one_server.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await one_server.delete(*keys)
        await one_server.aclose()
        await cluster.aclose()

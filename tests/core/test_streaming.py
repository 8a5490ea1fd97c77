"""The live-event hubs: what a subscriber gets, in which order, and when it ends.

The embedded run checks the in-process hub; the scaled run checks the Redis hub, with
two hubs standing for two processes on one Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tessera.core.streaming import BACKLOG, Hub, MemoryHub, RedisHub, StreamEvent
from tests.conftest import BACKEND, REDIS_URL

WITHIN = 5.0


@pytest.fixture
async def hubs() -> AsyncIterator[tuple[Hub, Hub]]:
    """A publishing hub and a subscribing one: the same hub in process, or two Redis hubs
    (two processes) on one Redis under a fresh prefix."""
    if BACKEND != "scaled":
        hub = MemoryHub()
        yield hub, hub
        await hub.close()
        return
    redis = Redis.from_url(REDIS_URL)
    prefix = f"tessera-test-{secrets.token_hex(4)}:"
    here, there = RedisHub(redis, prefix), RedisHub(redis, prefix)
    yield here, there
    await here.close()
    await there.close()
    await redis.aclose()


async def test_subscribers_get_their_channels_events_in_order(hubs: tuple[Hub, Hub]) -> None:
    publisher, subscriber = hubs
    async with (
        subscriber.subscribe(["user:1"]) as one,
        subscriber.subscribe(["user:1", "user:2"]) as both,
    ):
        await publisher.publish(["user:1"], "update", "10")
        await publisher.publish(["user:2", "user:3"], "notification", "20")
        await publisher.publish(["user:1"], "delete", "10")

        assert await one.next(WITHIN) == StreamEvent("update", "10")
        assert await one.next(WITHIN) == StreamEvent("delete", "10")
        assert [await both.next(WITHIN) for _ in range(3)] == [
            StreamEvent("update", "10"),
            StreamEvent("notification", "20"),
            StreamEvent("delete", "10"),
        ]
        assert await one.next(0.05) is None  # nothing else: time for a heartbeat


async def test_closing_the_hub_ends_every_subscription(hubs: tuple[Hub, Hub]) -> None:
    _, subscriber = hubs
    async with subscriber.subscribe(["user:5"]) as subscription:
        await subscriber.close()
        with pytest.raises(StopAsyncIteration):
            await subscription.next(WITHIN)
    async with subscriber.subscribe(["user:5"]) as late:
        with pytest.raises(StopAsyncIteration):
            await late.next(WITHIN)


async def test_a_subscriber_too_far_behind_is_cut_off() -> None:
    hub = MemoryHub()
    async with hub.subscribe(["user:9"]) as slow:
        for number in range(BACKLOG + 1):
            await hub.publish(["user:9"], "update", str(number))
        for _ in range(BACKLOG):
            assert await slow.next(WITHIN) is not None
        with pytest.raises(StopAsyncIteration):
            await slow.next(WITHIN)


@pytest.mark.skipif(BACKEND != "scaled", reason="the Redis hub belongs to the scaled backend")
async def test_a_process_listens_in_redis_only_while_a_client_does(
    hubs: tuple[Hub, Hub],
) -> None:
    _, subscriber = hubs
    assert isinstance(subscriber, RedisHub)
    redis = Redis.from_url(REDIS_URL)
    channel = f"{subscriber._prefix}user:7"

    async def listeners() -> int:
        [(_, count)] = await redis.pubsub_numsub(channel)
        return int(count)

    try:
        async with subscriber.subscribe(["user:7"]), subscriber.subscribe(["user:7"]):
            assert await listeners() == 1  # one connection per process, however many clients
        deadline = time.monotonic() + WITHIN
        remaining = await listeners()
        while remaining and time.monotonic() < deadline:  # the unsubscribe is on its way
            await asyncio.sleep(0.01)  # a poll interval, not a wait for the outcome
            remaining = await listeners()
        assert remaining == 0
    finally:
        await redis.aclose()

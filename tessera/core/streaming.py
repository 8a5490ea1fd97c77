"""Live events for connected clients: in-process (embedded) or Redis pub/sub (scaled).

A producer publishes an event (a name and a string payload) to channels after its
transaction committed; each streaming connection subscribes to its channels and reads
the events in order. The embedded hub hands them over inside the one process. The
Redis hub sends them to every process: each process keeps one pub/sub connection,
subscribes to a channel while at least one of its clients listens to it, and hands
what arrives to those clients. Nothing is stored: a client that is not connected
misses the event (it reads the REST API when it comes back), as with Mastodon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from tessera.core.errors import Unavailable

__all__ = [
    "BATCH",
    "Hub",
    "MemoryHub",
    "RedisHub",
    "StreamEvent",
    "Subscription",
    "user_channel",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 1000
"""Channels published to per Redis pipeline."""
BACKLOG = 1000
"""Events a subscription may hold unread; a client that falls further behind is cut off
(it reconnects and reads what it missed from the REST API)."""
CONFIRM_SECONDS = 5.0
"""How long a new subscription waits for Redis to confirm it."""
RETRY_SECONDS = 1.0


def user_channel(account_id: int) -> str:
    """The channel of everything live for one account (its home feed, its notifications)."""
    return f"user:{account_id}"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    event: str
    """Mastodon's event name: `update`, `delete`, `notification`, …"""
    payload: str


_CLOSED = StreamEvent("", "")


class Subscription:
    """The events of some channels for one client, in the order they were published."""

    def __init__(self, channels: Collection[str]) -> None:
        self.channels = frozenset(channels)
        self._queue: asyncio.Queue[StreamEvent] = asyncio.Queue(BACKLOG + 1)
        self.closed = False

    def deliver(self, event: StreamEvent) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= BACKLOG:
            log.warning("a streaming client fell %d events behind; cutting it off", BACKLOG)
            self.close()
            return
        self._queue.put_nowait(event)

    def close(self) -> None:
        """End the subscription: the reader gets what was queued, then the end."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(_CLOSED)

    async def next(self, within: float) -> StreamEvent | None:
        """The next event; None if none came within `within` seconds (time for a
        heartbeat). Raises `StopAsyncIteration` once the subscription has ended."""
        try:
            event = await asyncio.wait_for(self._queue.get(), within)
        except TimeoutError:
            return None
        if event is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # later calls end too
            raise StopAsyncIteration
        return event


class Hub(Protocol):
    async def publish(self, channels: Sequence[str], event: str, payload: str) -> None:
        """Send one event to every client subscribed to any of `channels`."""
        ...

    def subscribe(
        self, channels: Collection[str]
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """A subscription to `channels`, live once entered, ended on exit."""
        ...

    async def close(self) -> None:
        """End every subscription (server shutdown: open streams must finish)."""
        ...


class _Local:
    """The subscriptions of this process, by channel."""

    def __init__(self) -> None:
        self.by_channel: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> list[str]:
        """Register; returns the channels nobody here listened to before."""
        new = [c for c in subscription.channels if not self.by_channel.get(c)]
        for channel in subscription.channels:
            self.by_channel.setdefault(channel, set()).add(subscription)
        return new

    def remove(self, subscription: Subscription) -> list[str]:
        """Unregister; returns the channels nobody here listens to any more."""
        emptied = []
        for channel in subscription.channels:
            listeners = self.by_channel.get(channel)
            if listeners is None:
                continue
            listeners.discard(subscription)
            if not listeners:
                del self.by_channel[channel]
                emptied.append(channel)
        return emptied

    def deliver(self, channel: str, event: StreamEvent) -> None:
        for subscription in list(self.by_channel.get(channel, ())):
            subscription.deliver(event)

    def close(self) -> None:
        for listeners in list(self.by_channel.values()):
            for subscription in list(listeners):
                subscription.close()


class MemoryHub:
    """The embedded hub: producers and clients share one process."""

    def __init__(self) -> None:
        self._local = _Local()
        self._closed = False

    async def publish(self, channels: Sequence[str], event: str, payload: str) -> None:
        message = StreamEvent(event, payload)
        for channel in channels:
            self._local.deliver(channel, message)

    @asynccontextmanager
    async def subscribe(self, channels: Collection[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels)
        if self._closed:
            subscription.close()
        else:
            self._local.add(subscription)
        try:
            yield subscription
        finally:
            subscription.close()
            self._local.remove(subscription)

    async def close(self) -> None:
        self._closed = True
        self._local.close()


def _batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RedisHub:
    """The scaled hub: Redis pub/sub, one connection per process shared by its clients.

    Channel names carry the instance's key prefix, so several instances can share a
    Redis. A subscription is live once Redis confirmed it, so that a client that saw
    its stream open misses nothing published after. On a Redis Cluster, `redis` is one
    node's client: classic pub/sub reaches subscribers on every node.
    """

    def __init__(self, redis: Redis, prefix: str, *, owns_client: bool = False) -> None:
        self._redis = redis
        self._owns_client = owns_client
        self._prefix = prefix + "stream:"
        self._local = _Local()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._confirming: dict[str, deque[asyncio.Future[None]]] = {}
        self._closed = False

    async def publish(self, channels: Sequence[str], event: str, payload: str) -> None:
        message = orjson.dumps([event, payload])
        for chunk in _batched(channels, BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel in chunk:
                    pipe.publish(self._prefix + channel, message)
                await pipe.execute()

    @asynccontextmanager
    async def subscribe(self, channels: Collection[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels)
        if self._closed:
            subscription.close()
            yield subscription
            return
        try:
            await self._listen(subscription)
            yield subscription
        finally:
            subscription.close()
            await self._forget(subscription)

    async def _listen(self, subscription: Subscription) -> None:
        """Register locally and, for channels new to this process, subscribe in Redis
        and wait for the confirmation; `Unavailable` when Redis does not answer."""
        waits: dict[str, asyncio.Future[None]] = {}
        try:
            async with self._lock:
                new = self._local.add(subscription)
                if not new:
                    return
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub()
                loop = asyncio.get_running_loop()
                for channel in new:
                    waits[channel] = loop.create_future()
                    self._confirming.setdefault(channel, deque()).append(waits[channel])
                await self._pubsub.subscribe(*(self._prefix + c for c in new))
                if self._reader is None or self._reader.done():
                    self._reader = loop.create_task(self._read(self._pubsub))
            await asyncio.wait_for(asyncio.gather(*waits.values()), CONFIRM_SECONDS)
        except (TimeoutError, RedisError, OSError) as exc:
            for channel, future in waits.items():
                pending = self._confirming.get(channel)
                if pending is not None and future in pending:
                    pending.remove(future)
            raise Unavailable("Live events are unavailable; try again later") from exc

    async def _forget(self, subscription: Subscription) -> None:
        async with self._lock:
            emptied = self._local.remove(subscription)
            if emptied and self._pubsub is not None:
                with contextlib.suppress(Exception):  # a dead connection unsubscribes anyway
                    await self._pubsub.unsubscribe(*(self._prefix + c for c in emptied))

    async def _read(self, pubsub: PubSub) -> None:
        failing = False
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                # redis-py reconnects and subscribes again on the next read; events
                # published meanwhile are lost, as pub/sub promises no more.
                if not failing:
                    log.exception("live events: the Redis pub/sub connection failed")
                failing = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if failing:
                log.warning("live events: the Redis pub/sub connection recovered")
                failing = False
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, object]) -> None:
        raw_channel = message.get("channel")
        if not isinstance(raw_channel, bytes | str):
            return
        name = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        channel = name.removeprefix(self._prefix)
        if message.get("type") == "subscribe":
            pending = self._confirming.get(channel)
            if pending:
                future = pending.popleft()
                if not future.done():
                    future.set_result(None)
                if not pending:
                    del self._confirming[channel]
            return
        data = message.get("data")
        if message.get("type") != "message" or not isinstance(data, bytes | str):
            return
        try:
            event, payload = orjson.loads(data)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            log.warning("live events: an unreadable message on %s", name)
            return
        self._local.deliver(channel, StreamEvent(str(event), str(payload)))

    async def close(self) -> None:
        self._closed = True
        self._local.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._owns_client:
            await self._redis.aclose()

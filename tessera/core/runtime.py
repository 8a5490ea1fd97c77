"""What one process holds open: settings, database engine, Redis, rate limiter, storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from tessera.core.broker import Consumer, RabbitPublisher
from tessera.core.cache import Cache, MemoryCache, RedisCache
from tessera.core.config import Settings
from tessera.core.db import create_engine, session_scope, sessionmaker
from tessera.core.outbox import HandlerGroups, InProcessPublisher, Publisher, Relay
from tessera.core.ratelimit import RateLimiter
from tessera.core.redis_client import RedisClient, open_redis, pubsub_client
from tessera.core.replica import Replica
from tessera.core.storage import Storage, open_storage
from tessera.core.streaming import Hub, MemoryHub, RedisHub

__all__ = [
    "Links",
    "Runtime",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "act_for",
    "base_url",
    "links",
    "runtime_of",
]

DEFAULT_GROUP = "feed"
"""The handler group of `Runtime.handlers`: its queue is `<exchange>.feed`."""
SWEEP_SECONDS = 3.0
"""With a broker, how often the relay retries events the broker did not take."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: RedisClient | None
    """One Redis server's client, or a Redis Cluster's (`TESSERA_REDIS_CLUSTER`)."""
    cache: Cache
    limiter: RateLimiter
    storage: Storage
    relay: Relay
    handlers: InProcessPublisher
    """Where the default group's event handlers subscribe (its relay, or with a broker
    its consumer, delivers to it); other groups: `handler_group()`."""
    streams: Hub
    """Live events for streaming clients (in process, or Redis pub/sub when scaled)."""
    consumer: Consumer | None = None
    """With `TESSERA_BROKER_URL`: the worker consuming the default group's queue."""
    groups: dict[str, InProcessPublisher] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    phase: Literal["starting", "serving", "draining"] = "starting"
    """Where the process is in its life; `/health/ready` answers 503 unless serving."""
    replica: Replica | None = None
    """With `TESSERA_DATABASE_REPLICA_URL`: the engine GET and HEAD requests read from."""

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        redis = open_redis(settings)
        cache: Cache = RedisCache(redis, settings.redis_prefix) if redis else MemoryCache()
        streams: Hub = MemoryHub()
        if redis is not None:
            events = pubsub_client(settings, redis)
            streams = RedisHub(events, settings.redis_prefix, owns_client=events is not redis)
        handlers = InProcessPublisher(group=DEFAULT_GROUP)
        groups = {DEFAULT_GROUP: handlers}
        if settings.broker_url:

            def group_topics() -> dict[str, set[str]]:
                return {name: group.topics() for name, group in groups.items()}

            publisher: Publisher = RabbitPublisher(
                settings.broker_url, settings.broker_exchange, group_topics
            )
        else:
            publisher = HandlerGroups(groups)
        relay = Relay(engine, publisher)
        replica = Replica(settings, engine, redis, cache) if settings.database_replica_url else None
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=sessionmaker(engine, cache, relay.wake, replica),
            redis=redis,
            cache=cache,
            limiter=RateLimiter(settings),
            storage=open_storage(settings),
            relay=relay,
            handlers=handlers,
            streams=streams,
            groups=groups,
            replica=replica,
        )
        runtime.consumer = runtime._consumer_for(DEFAULT_GROUP)
        return runtime

    def handler_group(self, name: str) -> InProcessPublisher:
        """Where a service's event handlers subscribe when they are a group of their own:
        with a broker, a queue `<exchange>.<name>` of its own, so that its failures never
        redeliver another group's events. Call it before `start()`."""
        if name not in self.groups:
            self.groups[name] = InProcessPublisher(process_wide=False, group=name)
            self._consumer_for(name)
        return self.groups[name]

    def _consumer_for(self, name: str) -> Consumer | None:
        if not self.settings.broker_url:
            return None
        consumer = Consumer(
            self.settings.broker_url,
            self.settings.broker_exchange,
            name,
            self.groups[name],
            prefetch=self.settings.broker_prefetch,
        )
        self.consumers[name] = consumer
        return consumer

    def start(self, *, worker: bool = True) -> None:
        """Begin background work: publish events a previous process left behind; with a
        broker, sweep the outbox periodically and (`worker`) consume every group's queue."""
        self.relay.wake()
        if self.consumers:
            self.relay.sweep(SWEEP_SECONDS)
            if worker:
                for consumer in self.consumers.values():
                    consumer.start()
        self.phase = "serving"

    def drain(self) -> None:
        """The process is stopping: from now on it reports itself not ready."""
        self.phase = "draining"

    async def close(self) -> None:
        """Release everything; event handlers under way get `shutdown_timeout` seconds
        to finish (what they leave unacknowledged, the broker delivers again)."""
        self.drain()
        await self.streams.close()
        grace = self.settings.shutdown_timeout
        await asyncio.gather(*(consumer.close(grace) for consumer in self.consumers.values()))
        await self.relay.close()
        await self.storage.close()
        if self.replica is not None:
            await self.replica.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        """Each backing service and whether it answers."""
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure, it does not raise
            checks["database"] = f"error: {type(exc).__name__}"
        if self.redis is not None:
            try:
                await self.redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        return checks


def runtime_of(request: HTTPConnection) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _runtime(request: Request) -> Runtime:
    """Async, like every dependency here: a plain `def` would cost a thread hop per call."""
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


async def _settings(request: Request) -> Settings:
    return runtime_of(request).settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    runtime = runtime_of(request)
    async with session_scope(runtime.sessions) as session:
        if runtime.replica is not None:
            await runtime.replica.attach(request, session)
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
"""The request's transaction: committed after the route returns, before the response.
With a replica, a GET or HEAD request's plain reads go to it (`core/replica.py`)."""


async def act_for(request: HTTPConnection, account_id: int) -> None:
    """The request acts for this account (the owner of its token): with a replica, what
    it writes is remembered for the account, and its reads see the account's writes.
    Call it before the request's first query (authentication does)."""
    replica = runtime_of(request).replica
    if replica is not None:
        await replica.act_for(request, account_id)


_HTTP_SCHEMES = {"ws": "http", "wss": "https"}


def base_url(request: HTTPConnection) -> str:
    """The public URL of this server, for links in API answers (WebSocket ones too).

    Without `TESSERA_PUBLIC_URL`, the scheme and Host header of the request (cheaper
    than Starlette's `request.base_url`, which builds a URL object on every call).
    """
    public: str | None = runtime_of(request).settings.public_url
    if public:
        return public
    host = request.headers.get("host") or "{}:{}".format(*request.scope["server"])
    scheme = _HTTP_SCHEMES.get(request.scope["scheme"], request.scope["scheme"])
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"


@dataclass(frozen=True, slots=True)
class Links:
    """How to write absolute URLs in one answer: the server's and the stored files'."""

    base: str
    storage: Storage

    def media(self, key: str) -> str:
        return self.storage.url(key, self.base)


def links(request: HTTPConnection) -> Links:
    return Links(base_url(request), runtime_of(request).storage)

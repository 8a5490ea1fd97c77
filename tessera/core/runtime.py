"""What one process holds open: settings, database engine, Redis, rate limiter, storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.core.broker import Consumer, RabbitPublisher
from tessera.core.cache import Cache, MemoryCache, RedisCache
from tessera.core.config import Settings
from tessera.core.db import create_engine, session_scope, sessionmaker
from tessera.core.outbox import InProcessPublisher, Relay
from tessera.core.ratelimit import RateLimiter
from tessera.core.storage import Storage, open_storage

__all__ = [
    "Links",
    "Runtime",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "base_url",
    "links",
    "runtime_of",
]

WORKER_GROUP = "feed"
"""The handler group of the runtime's handlers: its queue is `<exchange>.feed`."""
SWEEP_SECONDS = 3.0
"""With a broker, how often the relay retries events the broker did not take."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis | None
    cache: Cache
    limiter: RateLimiter
    storage: Storage
    relay: Relay
    handlers: InProcessPublisher
    """Where this runtime's event handlers subscribe (its relay, or with a broker its
    consumer, delivers to it)."""
    consumer: Consumer | None = None
    """With `TESSERA_BROKER_URL`: the worker consuming this runtime's handlers' queue."""

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        cache: Cache = RedisCache(redis, settings.redis_prefix) if redis else MemoryCache()
        handlers = InProcessPublisher()
        consumer: Consumer | None = None
        if settings.broker_url:
            consumer = Consumer(
                settings.broker_url,
                settings.broker_exchange,
                WORKER_GROUP,
                handlers,
                prefetch=settings.broker_prefetch,
            )
            groups = consumer.group_topics
            relay = Relay(
                engine, RabbitPublisher(settings.broker_url, settings.broker_exchange, groups)
            )
        else:
            relay = Relay(engine, handlers)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessionmaker(engine, cache, relay.wake),
            redis=redis,
            cache=cache,
            limiter=RateLimiter(settings),
            storage=open_storage(settings),
            relay=relay,
            handlers=handlers,
            consumer=consumer,
        )

    def start(self, *, worker: bool = True) -> None:
        """Begin background work: publish events a previous process left behind; with a
        broker, sweep the outbox periodically and (`worker`) consume the handlers' queue."""
        self.relay.wake()
        if self.consumer is not None:
            self.relay.sweep(SWEEP_SECONDS)
            if worker:
                self.consumer.start()

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.close()
        await self.relay.close()
        await self.storage.close()
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


def runtime_of(request: Request) -> Runtime:
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
    async with session_scope(runtime_of(request).sessions) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
"""The request's transaction: committed after the route returns, before the response."""


def base_url(request: Request) -> str:
    """The public URL of this server, for links in API answers.

    Without `TESSERA_PUBLIC_URL`, the scheme and Host header of the request (cheaper
    than Starlette's `request.base_url`, which builds a URL object on every call).
    """
    public: str | None = runtime_of(request).settings.public_url
    if public:
        return public
    host = request.headers.get("host") or "{}:{}".format(*request.scope["server"])
    return f"{request.scope['scheme']}://{host}{request.scope.get('root_path', '')}"


@dataclass(frozen=True, slots=True)
class Links:
    """How to write absolute URLs in one answer: the server's and the stored files'."""

    base: str
    storage: Storage

    def media(self, key: str) -> str:
        return self.storage.url(key, self.base)


def links(request: Request) -> Links:
    return Links(base_url(request), runtime_of(request).storage)

"""What one process holds open: settings, database engine, Redis, rate limiter, storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tessera.core.config import Settings
from tessera.core.db import create_engine, session_scope, sessionmaker
from tessera.core.ratelimit import RateLimiter
from tessera.core.storage import LocalStorage

__all__ = ["Runtime", "RuntimeDep", "SessionDep", "SettingsDep", "base_url"]


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis | None
    limiter: RateLimiter
    storage: LocalStorage

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessionmaker(engine),
            redis=redis,
            limiter=RateLimiter(settings),
            storage=LocalStorage(settings.data_dir / "media"),
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    def redis_key(self, *parts: str) -> str:
        return self.settings.redis_prefix + ":".join(parts)

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


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def _settings(request: Request) -> Settings:
    return _runtime(request).settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(_runtime(request).sessions):
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
"""The request's transaction: committed after the route returns, before the response."""


def base_url(request: Request) -> str:
    """The public URL of this server, for links in API answers."""
    public: str | None = _settings(request).public_url
    return public or str(request.base_url).rstrip("/")

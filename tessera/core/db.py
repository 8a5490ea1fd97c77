"""The relational database: one declarative base, one engine, one session per request."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import BigInteger, DateTime, MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from tessera.core.cache import Cache, stale_keys
from tessera.core.config import Settings
from tessera.core.ids import new_id

if TYPE_CHECKING:
    from tessera.core.replica import Replica

__all__ = [
    "Base",
    "IdPK",
    "UTCDateTime",
    "after_commit",
    "cache_of",
    "create_engine",
    "database_unavailable",
    "evict_stale",
    "iso",
    "mark_events_emitted",
    "migrate",
    "pending_migrations",
    "session_scope",
    "sessionmaker",
    "utcnow",
]

_CACHE = "tessera.cache"
_WAKE = "tessera.wake_relay"
_EMITTED = "tessera.events_emitted"
_AFTER_COMMIT = "tessera.after_commit"
_REPLICA = "tessera.replica"
log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """RFC 3339 with milliseconds and `Z`, as Mastodon writes datetimes in the API."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdPK:
    """Mixin: a 64-bit time-ordered primary key."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # SQLite has one writer at a time; the others wait for its lock rather than fail.
    # As long as a wait for a pooled connection may take (30 s): under a burst of writes
    # on a loaded machine 5 s can run out (the likely cause of 2 failed likes of 1000).
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


CONNECT_TIMEOUT = 5.0
"""Seconds PostgreSQL may take to accept a connection: while it is unreachable, requests
fail in seconds (a 503) rather than after asyncpg's default minute."""
_SQLITE_UNAVAILABLE = ("unable to open database", "database is locked", "disk i/o error")


def _connect_or_operational_error(
    dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """asyncpg's connect raises OS errors and its own, which SQLAlchemy lets through
    unwrapped; raised as the DBAPI's OperationalError they reach callers as
    `sqlalchemy.exc.OperationalError`, like every other way of losing the database."""
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise dialect.loaded_dbapi.OperationalError(f"cannot connect: {exc}", exc) from exc


def create_engine(settings: Settings) -> AsyncEngine:
    """The engine; on PostgreSQL a pool that pings connections before handing them out,
    so it recovers by itself once a database that went away is back."""
    url = settings.effective_database_url
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        connect_args={"timeout": CONNECT_TIMEOUT},
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_operational_error)
    return engine


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or dropped the connection, so
    that the same request may succeed later (as opposed to a statement it refused)."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):  # SQLite's OperationalError also means bad SQL
        return any(text in str(exc.orig).lower() for text in _SQLITE_UNAVAILABLE)
    return True


def sessionmaker(
    engine: AsyncEngine,
    cache: Cache,
    wake_relay: Callable[[], None] | None = None,
    replica: Replica | None = None,
) -> async_sessionmaker[AsyncSession]:
    """Sessions that know the cache, so that commits can evict what they made stale, and
    the outbox relay, so that commits which emitted events wake it; with a `replica`,
    sessions whose reads it may serve (`core/replica.py`)."""
    info: dict[str, Any] = {_CACHE: cache, _WAKE: wake_relay, _REPLICA: replica}
    if replica is not None:
        return async_sessionmaker(
            engine,
            expire_on_commit=False,
            autoflush=False,
            info=info,
            sync_session_class=replica.session_class,
        )
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


def mark_events_emitted(session: AsyncSession) -> None:
    """The transaction wrote outbox rows: wake the relay once it commits."""
    session.info[_EMITTED] = True


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` once this transaction has committed (never if it rolls back).

    For side effects outside the database that must not happen unless the commit does,
    and whose loss (the process dying first) costs nothing worse than garbage, such as
    deleting files no row uses any more. Work others must not miss goes in the outbox.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def _forget_side_effects(session: AsyncSession) -> None:
    stale_keys(session)
    session.info.pop(_EMITTED, None)
    session.info.pop(_AFTER_COMMIT, None)


@asynccontextmanager
async def session_scope(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the caller finishes, rolled back when it raises.

    After the commit: the cache keys the transaction marked stale are deleted (with a
    replica, its WAL position is noted for read-your-writes and a second eviction), the
    outbox relay is woken if events were emitted, and `after_commit` actions run.
    """
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            _forget_side_effects(session)
            raise
        evicted = await evict_stale(session)
        replica: Replica | None = session.info.get(_REPLICA)
        if replica is not None:
            await replica.committed(session, evicted)
        wake = session.info.get(_WAKE)
        if session.info.pop(_EMITTED, False) and wake is not None:
            wake()
        for action in session.info.pop(_AFTER_COMMIT, ()):
            try:
                await action()
            except Exception:
                # Committed is committed: the caller's answer stands, the leftover is logged.
                log.exception("an after-commit action failed")


def cache_of(session: AsyncSession) -> Cache | None:
    """The hot cache of the runtime that made this session (None for a bare session)."""
    cache: Cache | None = session.info.get(_CACHE)
    return cache


async def evict_stale(session: AsyncSession) -> list[str]:
    """Delete the cache keys marked stale so far (and return them); call only after a
    commit."""
    keys = stale_keys(session)
    if keys:
        cache: Cache = session.info[_CACHE]
        await cache.delete(*keys)
    return keys


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending Alembic migration."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def pending_migrations(engine: AsyncEngine) -> bool:
    """True when the database is not at the newest migration."""

    def check(connection: Connection) -> bool:
        script = ScriptDirectory.from_config(_alembic_config(connection))
        current = set(MigrationContext.configure(connection).get_current_heads())
        return current != set(script.get_heads())

    async with engine.connect() as connection:
        return await connection.run_sync(check)

"""Read scaling: a streaming replica of the primary serves the reads of GET and HEAD requests.

Which reads. A request's session (`SessionDep`) for a GET or HEAD sends its plain SELECTs
to the replica. Any other statement, or a flush, goes to the primary, and so do the
session's reads from then on, so that it reads what it wrote. Every other session (event
handlers, the outbox relay, token look-ups, rendering for live streams) uses the primary
only: they react to writes that have just committed, which the replica may not have yet.

Read-your-writes. After a transaction that wrote for an account commits (the request's
acting account, `runtime.act_for()`; or one named with `written_for()`, as a sign-up names
the new account), the primary's WAL insert position is remembered for that account, in
Redis when there is one (so every process knows), for `POSITION_SECONDS`. Until then the
account's reads go to the replica only once it has replayed that far (its replay position
is asked for only when the last one seen is not enough), else to the primary. Anonymous
reads, and accounts that wrote nothing lately, always use the replica.

An unreachable replica. The read engine connects to the replica, or, when the replica
refuses or does not answer within `REPLICA_CONNECT_TIMEOUT`, to the primary; it then
tries the replica again every `RETRY_SECONDS`, replacing its connections to the primary
once the replica is back. So a replica outage costs no failed request beyond those
running on it when it went.

Caches. Writers evict after their commit; a read of the lagging replica just after can
put the old value back. So the keys a commit evicted are evicted once more when the
replica has replayed past that commit (checked every `EVICT_POLL_SECONDS`, given up after
`POSITION_SECONDS`), and a last time `SETTLE_SECONDS` later: a read of the replica that
began just before it replayed the commit may cache the old value after that eviction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from contextlib import suppress
from contextvars import Context
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.exceptions import RedisError
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement, GenerativeSelect
from starlette.requests import HTTPConnection

from tessera.core.cache import Cache, skip_cached
from tessera.core.config import Settings
from tessera.core.db import CONNECT_TIMEOUT, _connect_or_operational_error, database_unavailable
from tessera.core.redis_client import RedisClient, owner_tag

__all__ = ["Replica", "RoutingSession", "primary_reads", "written_for"]

POSITION_SECONDS = 60
"""How long an account's last write is remembered: for that long its reads wait for the
replica to replay it (or go to the primary). A replica further behind than this can show
an account a page without its own newest write."""
RETRY_SECONDS = 3.0
"""After the replica refused a connection, how long reads go to the primary before it is
tried again."""
REPLICA_CONNECT_TIMEOUT = 1.0
"""Seconds the replica may take to accept a connection before reads go to the primary."""
EVICT_POLL_SECONDS = 0.05
"""How often the replay position is asked for while evictions wait for it."""
SETTLE_SECONDS = 1.0
"""Far longer than a read takes from the replica into the cache."""
POOL_SIZE, MAX_OVERFLOW = 5, 5
"""The read engine's pool: reads are short, and every process holds one of these."""

_READS = "tessera.reads"
_ON_PRIMARY = "tessera.reads_on_primary"
_WROTE = "tessera.wrote"
_WRITERS = "tessera.written_for"
_FALLBACK = "tessera.replica_fallback"
_STATE = "tessera_replica_route"
_PRIMARY_POSITION = text("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
_REPLAY_POSITION = text("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")
"""NULL on a server that is not a standby: a read engine that fell back to the primary."""

log = logging.getLogger(__name__)


class RoutingSession(Session):
    """Plain SELECTs go to the engine in `info[_READS]` when there is one; anything else
    goes to the primary and marks the session as having written, after which its reads
    go to the primary as well."""

    def get_bind(
        self,
        mapper: Any = None,
        *,
        clause: ClauseElement | None = None,
        bind: Engine | Connection | None = None,
        **kw: Any,
    ) -> Engine | Connection:
        plain_read = isinstance(clause, GenerativeSelect) and clause._for_update_arg is None
        if not plain_read:
            self.info[_WROTE] = self.info[_ON_PRIMARY] = True
            self.info.pop(_READS, None)
        reads: AsyncEngine | None = self.info.get(_READS)
        if bind is None and reads is not None:
            return reads.sync_engine
        return super().get_bind(mapper, clause=clause, bind=bind, **kw)


def written_for(session: AsyncSession, account_id: int) -> None:
    """This transaction writes for `account_id` (besides the request's acting account,
    which counts anyway): once it commits, that account's reads see it."""
    session.info.setdefault(_WRITERS, set()).add(account_id)


def primary_reads(session: AsyncSession) -> None:
    """From now on the session reads from the primary: for reads whose result is stored
    (a rebuilt feed), which a lagging replica would store without its newest rows."""
    session.info[_ON_PRIMARY] = True
    session.info.pop(_READS, None)


@dataclass
class _Route:
    """What one request has told about itself so far: its session and its account."""

    read_only: bool
    account_id: int | None = None
    session: AsyncSession | None = None


def _route_of(request: HTTPConnection) -> _Route:
    route: _Route | None = getattr(request.state, _STATE, None)
    if route is None:
        route = _Route(read_only=request.scope.get("method") in ("GET", "HEAD"))
        setattr(request.state, _STATE, route)
    return route


class _MemoryPositions:
    """Write positions in this process (PostgreSQL without Redis: one process)."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, float]] = {}

    async def get(self, account_id: int) -> int | None:
        position, until = self._known.get(account_id, (0, 0.0))
        return position if until > time.monotonic() else None

    async def remember(self, account_ids: Iterable[int], position: int) -> None:
        until = time.monotonic() + POSITION_SECONDS
        for account_id in account_ids:
            known = await self.get(account_id) or 0
            self._known[account_id] = (max(known, position), until)
        if len(self._known) > 10_000:  # forget the expired ones now and then
            now = time.monotonic()
            self._known = {a: entry for a, entry in self._known.items() if entry[1] > now}


_REMEMBER = """
-- KEYS[1]: an account's write position. ARGV: a position, seconds to keep it.
-- Never moves back: two writes may report their positions out of order.
local known = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > known then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
"""


class _RedisPositions:
    """Write positions shared by every process: `<prefix>written:{tag}:<account id>`."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._remember = redis.register_script(_REMEMBER)

    def _key(self, account_id: int) -> str:
        return f"{self._prefix}written:{owner_tag(account_id)}:{account_id}"

    async def get(self, account_id: int) -> int | None:
        value = await self._redis.get(self._key(account_id))
        return int(value) if value is not None else None

    async def remember(self, account_ids: Iterable[int], position: int) -> None:
        for account_id in account_ids:
            await self._remember([self._key(account_id)], [position, POSITION_SECONDS])


class Replica:
    """The read engine and what one account's reads must wait for; held by the runtime
    when `TESSERA_DATABASE_REPLICA_URL` is set."""

    session_class = RoutingSession

    def __init__(
        self, settings: Settings, primary: AsyncEngine, redis: RedisClient | None, cache: Cache
    ) -> None:
        assert settings.database_replica_url is not None
        self.primary = primary
        self.engine = create_async_engine(
            settings.database_replica_url,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_pre_ping=True,
            connect_args={"timeout": REPLICA_CONNECT_TIMEOUT},
        )
        """The replica, or the primary while the replica cannot be reached."""
        event.listen(self.engine.sync_engine, "do_connect", self._connect)
        event.listen(self.engine.sync_engine, "checkout", self._checkout)
        self._asking = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._primary = primary.execution_options(isolation_level="AUTOCOMMIT")
        self._positions = (
            _RedisPositions(redis, settings.redis_prefix) if redis else _MemoryPositions()
        )
        self._cache = cache
        self._replayed = 0
        """The furthest replay position seen (it only grows)."""
        self._retry_at = 0.0
        self._down = False
        self._evictions: list[tuple[int, float, list[str]]] = []
        self._settling: list[tuple[float, list[str]]] = []
        """Keys evicted once the replica replayed their commit, and when to evict them
        the last time."""
        self._evictor: asyncio.Task[None] | None = None

    # -- connections -------------------------------------------------------------------

    def _connect(
        self, dialect: Any, record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> Any:
        """The replica; while it cannot be reached, the primary."""
        if time.monotonic() >= self._retry_at:
            try:
                connection = dialect.connect(*cargs, **cparams)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not self._down:
                    log.warning("replica unreachable, reads go to the primary: %s", exc)
                self._down = True
                self._retry_at = time.monotonic() + RETRY_SECONDS
            else:
                if self._down:
                    log.warning("replica reachable again, reads go back to it")
                self._down = False
                record.info.pop(_FALLBACK, None)
                return connection
        record.info[_FALLBACK] = True
        primary_args, primary_params = dialect.create_connect_args(self.primary.url)
        primary_params["timeout"] = CONNECT_TIMEOUT
        return _connect_or_operational_error(
            dialect, record, tuple(primary_args), dict(primary_params)
        )

    def _checkout(self, _connection: Any, record: Any, _proxy: Any) -> None:
        """A connection to the primary standing in for the replica is replaced (the pool
        connects again) once it is time to try the replica again."""
        if record.info.get(_FALLBACK) and time.monotonic() >= self._retry_at:
            raise sa_exc.DisconnectionError("time to try the replica again")

    async def close(self) -> None:
        if self._evictor is not None:
            self._evictor.cancel()
            with suppress(asyncio.CancelledError):
                await self._evictor
        await self.engine.dispose()

    # -- positions ---------------------------------------------------------------------

    async def _replay_position(self) -> int | None:
        """How far the replica has replayed the primary's WAL; None when the read engine
        is on the primary (which has everything)."""
        async with self._asking.connect() as connection:
            replayed: int | None = await connection.scalar(_REPLAY_POSITION)
        if replayed is not None:
            self._replayed = max(self._replayed, replayed)
        return replayed

    async def _replayed_up_to(self, position: int) -> bool:
        """Whether the replica has everything up to `position` (no: it cannot be asked)."""
        if position <= self._replayed:
            return True
        try:
            replayed = await self._replay_position()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            if not database_unavailable(exc):
                raise
            return False
        return replayed is None or replayed >= position

    async def reads_for(self, account_id: int | None) -> AsyncEngine | None:
        """Where the account's plain reads may go: the read engine, or None (the primary)
        while the replica has not replayed the account's last write."""
        if account_id is None:
            return self.engine
        try:
            written = await self._positions.get(account_id)
        except RedisError:
            return None  # cannot tell: the primary is always right
        if written is None or await self._replayed_up_to(written):
            return self.engine
        return None

    async def committed(self, session: AsyncSession, evicted: list[str]) -> None:
        """After `session` committed: remember the primary's WAL position for the accounts
        it wrote for, and evict `evicted` again once the replica has replayed that far."""
        writers: set[int] = session.info.pop(_WRITERS, set())
        if not session.info.pop(_WROTE, False) or not (writers or evicted):
            return
        try:
            async with self._primary.connect() as connection:
                position = int(await connection.scalar(_PRIMARY_POSITION))
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            if not database_unavailable(exc):
                raise
            log.warning("a commit's WAL position is unknown: %s", type(exc).__name__)
            return
        try:
            await self._positions.remember(writers, position)
        except RedisError as exc:
            log.warning("a write's WAL position was not remembered: %s", exc)
        if evicted:
            self._evictions.append((position, time.monotonic() + POSITION_SECONDS, evicted))
            if self._evictor is None or self._evictor.done():
                # A context of its own: its log lines belong to no request.
                self._evictor = asyncio.create_task(self._evict_replayed(), context=Context())

    async def _evict_replayed(self) -> None:
        """Evict again the keys of the commits the replica has replayed (or that waited
        for it longer than `POSITION_SECONDS`)."""
        while self._evictions or self._settling:
            await asyncio.sleep(EVICT_POLL_SECONDS)
            everything = bool(self._evictions) and await self._replayed_up_to(
                max(item[0] for item in self._evictions)
            )
            now, keys, waiting = time.monotonic(), set[str](), []
            for position, until, evicted in self._evictions:
                if everything or position <= self._replayed or until <= now:
                    keys.update(evicted)
                    self._settling.append((now + SETTLE_SECONDS, evicted))
                else:
                    waiting.append((position, until, evicted))
            self._evictions = waiting
            for at, evicted in self._settling:
                if at <= now:
                    keys.update(evicted)
            self._settling = [(at, evicted) for at, evicted in self._settling if at > now]
            if keys:
                try:
                    await self._cache.delete(*keys)
                except RedisError as exc:
                    log.warning("cache keys not evicted again: %s", exc)

    # -- requests ----------------------------------------------------------------------

    async def attach(self, request: HTTPConnection, session: AsyncSession) -> None:
        """`session` is the request's: route its reads (anonymous until `act_for`)."""
        route = _route_of(request)
        route.session = session
        await self._route(route)

    async def act_for(self, request: HTTPConnection, account_id: int) -> None:
        """The request acts for `account_id`: its writes are remembered for it, and its
        reads wait for the account's earlier writes."""
        route = _route_of(request)
        route.account_id = account_id
        await self._route(route)

    async def _route(self, route: _Route) -> None:
        session = route.session
        if session is None:
            return
        if route.account_id is not None:
            written_for(session, route.account_id)
        if route.read_only and not session.info.get(_ON_PRIMARY):
            reads = await self.reads_for(route.account_id)
            if reads is not None:
                session.info[_READS] = reads
            elif route.account_id is not None:
                session.info.pop(_READS, None)
                skip_cached(session)  # a lagging read may have cached what it changed

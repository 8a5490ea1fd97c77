"""The transactional outbox: events are rows written in the transaction that causes them.

`emit()` adds a row to `outbox_events` in the caller's session, so an event exists if
and only if its transaction committed. After each commit that emitted something, the
session scope wakes the process's `Relay`, which reads the unpublished rows in id order,
hands each one to its `Publisher` and then marks it published. A process that dies
between the commit and the hand-over leaves the rows unpublished; the next drain (every
process drains once on start-up) delivers them. Delivery is therefore at-least-once:
handlers must be idempotent, keyed by `Event.id`.

Today's publisher calls the handlers registered with `subscribe()` in this process. A
broker publisher (`core.broker.RabbitPublisher`, with publisher confirms, when `TESSERA_BROKER_URL`
is set) replaces it without touching `emit()`: it raises when a message was not
confirmed, the rows stay unpublished, and the relay's periodic `sweep()` retries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Index, String, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db import Base, IdPK, UTCDateTime, mark_events_emitted, utcnow
from tessera.core.ids import new_id
from tessera.core.observability import (
    OUTBOX_PUBLISH_DELAY,
    current_request_id,
    event_handled,
    request_context,
)

__all__ = [
    "Event",
    "Handler",
    "HandlerGroups",
    "InProcessPublisher",
    "OutboxEvent",
    "Publisher",
    "Relay",
    "emit",
    "subscribe",
]

log = logging.getLogger(__name__)

BATCH = 100


class OutboxEvent(IdPK, Base):
    """An event waiting to be published (`published_at` null) or already handed over."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The request that emitted the event, so that handlers' log lines name it."""


@dataclass(frozen=True, slots=True)
class Event:
    """What handlers receive. `id` is unique and stable across redeliveries."""

    id: int
    topic: str
    payload: dict[str, Any]
    created_at: datetime
    request_id: str | None = None
    """The id of the request that emitted it (`X-Request-Id`), if one did."""


Handler = Callable[[Event], Awaitable[None]]
"""Takes ids from the payload, opens its own session, re-reads rows; may run twice."""

_handlers: dict[str, list[Handler]] = {}


def subscribe(topic: str, handler: Handler) -> Callable[[], None]:
    """Call `handler` for every event on `topic` published by this process.

    Returns a function that removes the subscription.
    """
    _handlers.setdefault(topic, []).append(handler)

    def unsubscribe() -> None:
        if handler in _handlers.get(topic, []):
            _handlers[topic].remove(handler)

    return unsubscribe


def emit(session: AsyncSession, topic: str, payload: dict[str, Any]) -> None:
    """Record an event in the caller's transaction; it is published after the commit.

    The payload must be JSON (ids as integers); keep it to ids and small facts, since
    handlers re-read the rows they need. The current request's id goes with it.
    """
    owner = payload.get("account_id")
    session.add(
        OutboxEvent(
            id=new_id(owner if isinstance(owner, int) else None),
            topic=topic,
            payload=payload,
            created_at=utcnow(),
            request_id=current_request_id(),
        )
    )
    mark_events_emitted(session)


class Publisher(Protocol):
    async def publish(self, event: Event) -> None:
        """Hand the event over; return only once it is safe to mark it published."""
        ...


class InProcessPublisher:
    """Runs this process's subscribed handlers, one after the other: those registered
    with the module's `subscribe()` (unless `process_wide` is false), then its own.

    A failing handler is logged and does not stop the others or the event: handlers
    own their retries (the broker will offer redelivery when it arrives). Each event's
    handling is timed and logged as one line of the handler group `group`, under the id
    of the request that emitted the event.
    """

    def __init__(self, *, process_wide: bool = True, group: str = "default") -> None:
        self._own: dict[str, list[Handler]] = {}
        self._process_wide = process_wide
        self.group = group

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call `handler` for the events this publisher publishes on `topic`.

        For handlers bound to one runtime (its database, its settings): two runtimes in
        one process (as in the tests) then each handle only what their relay publishes.
        """
        self._own.setdefault(topic, []).append(handler)

    def topics(self) -> set[str]:
        """Every topic with a handler here or process-wide (what a broker queue binds)."""
        shared = _handlers.items() if self._process_wide else ()
        return {topic for topic, handlers in (*shared, *self._own.items()) if handlers}

    def _for(self, topic: str) -> list[Handler]:
        shared = _handlers.get(topic, ()) if self._process_wide else ()
        return [*shared, *self._own.get(topic, ())]

    async def publish(self, event: Event) -> None:
        await self._run(event, log_failures=True)

    async def dispatch(self, event: Event) -> None:
        """Run every handler of the event's topic; raise if any failed (after all ran),
        so that a broker consumer can ask for a redelivery."""
        failed = await self._run(event, log_failures=False)
        if failed is not None:
            raise failed

    async def _run(self, event: Event, *, log_failures: bool) -> Exception | None:
        """Every handler of the event, whatever fails; the first failure, if any."""
        handlers = self._for(event.topic)
        if not handlers:
            return None
        failed: Exception | None = None
        started = time.perf_counter()
        with request_context(event.request_id):
            for handler in handlers:
                try:
                    await handler(event)
                except Exception as exc:
                    if log_failures:
                        log.exception("outbox handler %r failed on event %s", handler, event.id)
                    failed = failed or exc
            elapsed = time.perf_counter() - started
            event_handled(self.group, event.topic, event.id, elapsed, ok=failed is None)
        return failed


class HandlerGroups:
    """The relay's publisher without a broker: each handler group's handlers in turn.

    Groups exist for the broker, where each has a queue of its own, so that one group's
    failing handler never makes another group's handlers see an event twice; in process,
    a failing handler is logged and the others run anyway.
    """

    def __init__(self, groups: dict[str, InProcessPublisher]) -> None:
        self.groups = groups
        """Group name → its handlers; groups added later are published to as well."""

    async def publish(self, event: Event) -> None:
        for handlers in list(self.groups.values()):
            await handlers.publish(event)


class _Sessions(Protocol):
    def __call__(self) -> AsyncSession: ...


class Relay:
    """Moves committed events from the outbox to the publisher, oldest first.

    `wake()` is cheap and never blocks: it starts a drain, or asks the running one to go
    round once more. Several processes may drain at once: on PostgreSQL each takes its
    rows with `FOR UPDATE SKIP LOCKED`, so no event goes to two publishers at a time.
    """

    def __init__(self, engine: AsyncEngine, publisher: Publisher | None = None) -> None:
        # Its own sessions: their commits must not wake the relay again.
        self._sessions: _Sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._skip_locked = engine.dialect.name == "postgresql"
        self.publisher: Publisher = publisher or InProcessPublisher()
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._again = False
        self._failing = False
        self._lock = asyncio.Lock()

    def sweep(self, interval: float) -> None:
        """Also drain every `interval` seconds, not only after commits: a publisher that
        can fail (a broker that is down) gets its events retried without new writes."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(interval))

    async def _sweep(self, interval: float) -> None:
        while True:
            self.wake()
            await asyncio.sleep(interval)

    def wake(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        # A context of its own: a drain serves every request's events, not the one (if
        # any) whose commit woke it, so it must not log under that request's id.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), context=contextvars.Context()
        )

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self.drain()
            except Exception:
                # The rows stay unpublished; the next wake (or sweep) retries them. One
                # traceback per outage, not one per retry.
                if not self._failing:
                    log.exception("outbox relay failed; events wait in the outbox")
                self._failing = True
                return
            if self._failing:
                log.warning("outbox relay recovered")
                self._failing = False
            if not self._again:
                return

    async def idle(self) -> None:
        """Wait until no drain is running (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def drain(self) -> int:
        """Publish every unpublished event; returns how many were published."""
        published = 0
        async with self._lock:
            while True:
                count = await self._drain_batch()
                published += count
                if count < BATCH:
                    return published

    async def _drain_batch(self) -> int:
        statement = (
            select(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(BATCH)
        )
        if self._skip_locked:
            statement = statement.with_for_update(skip_locked=True)
        async with self._sessions() as session, session.begin():
            rows = list(await session.scalars(statement))
            # A publisher that raises rolls the batch back: all of it goes again later.
            for row in rows:
                await self.publisher.publish(
                    Event(row.id, row.topic, dict(row.payload), row.created_at, row.request_id)
                )
            if rows:
                await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_([row.id for row in rows]))
                    .values(published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        now = utcnow()
        for row in rows:
            OUTBOX_PUBLISH_DELAY.observe((now - row.created_at).total_seconds())
        return len(rows)

    async def oldest_waiting(self) -> float:
        """Seconds since the oldest unpublished event was emitted; 0 when none waits."""
        async with self._sessions() as session:
            created = await session.scalar(
                select(OutboxEvent.created_at)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(1)
            )
        return max((utcnow() - created).total_seconds(), 0.0) if created else 0.0

    async def close(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        if self._task is not None and not self._task.done():
            await self.idle()
        close_publisher = getattr(self.publisher, "close", None)
        if close_publisher is not None:
            await close_publisher()

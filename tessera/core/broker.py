"""The outbox over RabbitMQ (aio-pika), used when `TESSERA_BROKER_URL` is set.

`RabbitPublisher` is the relay's publisher: each event becomes a persistent message
(`message_id` = the event id, routing key = its topic) on a durable topic exchange, on a
channel with publisher confirms; `publish()` returns only once the broker confirmed, so
the relay marks an event published only then. When the broker is unreachable it raises,
the events stay in the outbox, and the relay's periodic sweep tries again.

`Consumer` is the worker: one durable quorum queue per handler group (`<exchange>.<group>`)
bound to the topics its handlers subscribe to, manual acks (ack once every handler
succeeded, nack and requeue otherwise) and a prefetch limit. After `DELIVERY_LIMIT`
failed deliveries the queue (`x-delivery-limit`) dead-letters the message to
`<exchange>.dead`, where an operator can look at it. Handlers stay idempotent: an event
can arrive twice (a crash between handling and ack, a publish retried after a lost confirm).

Both declare the whole topology (exchange, queues, bindings, dead-letter queue), so
whichever starts first, no event is routed to nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    ExchangeType,
    TimeoutType,
)

from tessera.core.outbox import Event, InProcessPublisher

__all__ = ["DELIVERY_LIMIT", "Consumer", "RabbitPublisher", "declare_topology"]

log = logging.getLogger(__name__)

DELIVERY_LIMIT = 5
"""Failed deliveries after which a message goes to the dead-letter queue."""
TIMEOUT = 10.0
"""Seconds to wait for a connection, a declaration or a confirm."""
RETRY_SECONDS = 3.0
"""Pause before a consumer whose connection failed or dropped connects again."""

Groups = Callable[[], dict[str, set[str]]]
"""The handler groups to declare queues for: group name → topics its queue is bound to."""


def _no_groups() -> dict[str, set[str]]:
    return {}


async def declare_topology(
    channel: AbstractChannel, exchange_name: str, groups: dict[str, set[str]]
) -> tuple[AbstractExchange, dict[str, AbstractQueue]]:
    """Declare (idempotently) the exchange, the dead-letter queue and each group's queue."""
    exchange = await channel.declare_exchange(
        exchange_name, ExchangeType.TOPIC, durable=True, timeout=TIMEOUT
    )
    dead_name = f"{exchange_name}.dead"
    dead_exchange = await channel.declare_exchange(
        dead_name, ExchangeType.FANOUT, durable=True, timeout=TIMEOUT
    )
    dead = await channel.declare_queue(
        dead_name, durable=True, arguments={"x-queue-type": "quorum"}, timeout=TIMEOUT
    )
    await dead.bind(dead_exchange, routing_key="", timeout=TIMEOUT)
    queues: dict[str, AbstractQueue] = {}
    for group, topics in groups.items():
        queue = await channel.declare_queue(
            f"{exchange_name}.{group}",
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": DELIVERY_LIMIT - 1,  # redeliveries after the first
                "x-dead-letter-exchange": dead_name,
            },
            timeout=TIMEOUT,
        )
        for topic in sorted(topics):
            await queue.bind(exchange, routing_key=topic, timeout=TIMEOUT)
        queues[group] = queue
    return exchange, queues


class _Connection(aio_pika.Connection):
    """Closes itself when connecting fails. Otherwise the half-made connection is closed
    by its finalizer, which outside the event loop (the garbage collector may run in any
    thread) leaves a never-awaited coroutine behind."""

    async def connect(self, timeout: TimeoutType = None) -> None:  # noqa: ASYNC109 (an override)
        try:
            await super().connect(timeout=timeout)
        except BaseException:
            await self.close()
            raise


async def _connect(url: str) -> AbstractConnection:
    return await aio_pika.connect(url, timeout=TIMEOUT, connection_class=_Connection)


def encode(event: Event) -> bytes:
    return json.dumps(
        {
            "id": event.id,
            "topic": event.topic,
            "payload": event.payload,
            "created_at": event.created_at.isoformat(),
            "request_id": event.request_id,
        }
    ).encode()


def decode(body: bytes) -> Event:
    data = json.loads(body)
    request_id = data.get("request_id")  # absent from messages of older versions
    return Event(
        int(data["id"]),
        str(data["topic"]),
        dict(data["payload"]),
        datetime.fromisoformat(data["created_at"]),
        request_id if isinstance(request_id, str) else None,
    )


class RabbitPublisher:
    """Publishes events to the exchange and returns once the broker confirmed each one.

    Connects on first use and again after any failure; `groups` names the queues to
    declare on connecting (those of this process's handlers), so that events published
    before any worker ran wait in their queue.
    """

    def __init__(self, url: str, exchange: str, groups: Groups = _no_groups) -> None:
        self._url = url
        self._exchange_name = exchange
        self._groups = groups
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> AbstractExchange:
        async with self._lock:
            if self._exchange is not None:
                return self._exchange
            connection = await _connect(self._url)
            try:
                channel = await connection.channel(publisher_confirms=True)
                exchange, _ = await declare_topology(channel, self._exchange_name, self._groups())
            except BaseException:
                await connection.close()
                raise
            self._connection, self._exchange = connection, exchange
            return exchange

    async def publish(self, event: Event) -> None:
        try:
            exchange = await self._ready()
            await exchange.publish(
                aio_pika.Message(
                    encode(event),
                    message_id=str(event.id),
                    type=event.topic,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=event.topic,
                mandatory=False,
                timeout=TIMEOUT,
            )
        except Exception:
            await self.close()  # start from a fresh connection next time
            raise

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:
                log.warning("closing the broker connection failed", exc_info=True)


class Consumer:
    """Delivers the messages of one handler group's queue to its handlers (the worker).

    `start()` runs it in the background: it connects, declares the topology, consumes,
    and connects again whenever the broker is unreachable or the connection drops.
    """

    def __init__(
        self,
        url: str,
        exchange: str,
        group: str,
        handlers: InProcessPublisher,
        *,
        prefetch: int = 32,
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self.group = group
        self.handlers = handlers
        self._prefetch = prefetch
        self._task: asyncio.Task[None] | None = None
        self._stop_consuming: Callable[[], Awaitable[object]] | None = None
        self._handling: set[asyncio.Task[object]] = set()
        self._connection: AbstractConnection | None = None
        self.ready = asyncio.Event()
        """Set while the consumer is attached to its queue (tests, health)."""

    @property
    def queue_name(self) -> str:
        return f"{self._exchange_name}.{self.group}"

    def topics(self) -> set[str]:
        return self.handlers.topics()

    def group_topics(self) -> dict[str, set[str]]:
        """This consumer's queue and its topics, for a publisher to declare."""
        return {self.group: self.topics()}

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker consumer %s: %s; retrying", self.queue_name, exc or repr(exc))
            finally:
                self.ready.clear()
            await asyncio.sleep(RETRY_SECONDS)

    async def _consume(self) -> None:
        connection = await _connect(self._url)
        async with connection:
            closed = asyncio.get_running_loop().create_future()

            def on_close(_: object, exc: BaseException | None = None) -> None:
                if not closed.done():
                    closed.set_result(exc)

            connection.close_callbacks.add(on_close)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self._prefetch, timeout=TIMEOUT)
            _, queues = await declare_topology(channel, self._exchange_name, self.group_topics())
            queue = queues[self.group]
            tag = await queue.consume(self._on_message, timeout=TIMEOUT)
            self._stop_consuming = partial(queue.cancel, tag, timeout=TIMEOUT)
            self._connection = connection
            self.ready.set()
            try:
                reason = await closed
            finally:
                self._stop_consuming = None
                self._connection = None
            raise ConnectionError(f"connection closed: {reason!r}")

    async def depth(self) -> int | None:
        """Messages ready in the queue (not those delivered and unacknowledged); None
        while not connected. Asked on a channel of its own: a failed passive declare
        closes its channel, which must not be the one consuming."""
        connection = self._connection
        if connection is None:
            return None
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(self.queue_name, passive=True, timeout=TIMEOUT)
            return queue.declaration_result.message_count
        finally:
            await channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        handling = asyncio.current_task()
        assert handling is not None
        self._handling.add(handling)
        try:
            await self._handle(message)
        finally:
            self._handling.discard(handling)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            event = decode(message.body)
        except (ValueError, KeyError, TypeError):
            log.exception("undecodable message %s, dead-lettered", message.message_id)
            await message.reject(requeue=False)
            return
        try:
            await self.handlers.dispatch(event)
        except Exception:
            log.exception("handling event %s (%s) failed; requeued", event.id, event.topic)
            await message.nack(requeue=True)
            return
        await message.ack()

    async def close(self, grace: float = 0.0) -> None:
        """Stop: take no new message, give the handlers under way `grace` seconds to
        finish and acknowledge theirs, then disconnect. The broker delivers whatever is
        left unacknowledged again, to this group's next consumer."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            if self._stop_consuming is not None and self._handling:
                with contextlib.suppress(Exception):  # a broken connection stops it anyway
                    await self._stop_consuming()
                await asyncio.wait(set(self._handling), timeout=grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

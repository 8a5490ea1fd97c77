"""A worker that is told to stop (`Consumer.close(grace)`, what SIGTERM does to
`tessera worker`) takes no new event, lets the handler under way finish and acknowledge
its event; a handler still running after the grace is cut off and its event delivered
again to the next worker. Against the RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tessera.core.broker import Consumer, RabbitPublisher
from tessera.core.outbox import Event, Handler, InProcessPublisher
from tests.broker import RABBIT_URL, Names

DEADLINE = 30.0
TOPIC = "post.created"


def event(event_id: int) -> Event:
    return Event(event_id, TOPIC, {"post_id": event_id}, datetime.now(UTC))


def worker(exchange: str, handler: Handler) -> Consumer:
    handlers = InProcessPublisher(process_wide=False)
    handlers.subscribe(TOPIC, handler)
    return Consumer(RABBIT_URL, exchange, "feed", handlers)


async def started(consumer: Consumer) -> Consumer:
    consumer.start()
    await asyncio.wait_for(consumer.ready.wait(), DEADLINE)
    return consumer


async def test_a_stopping_worker_finishes_its_event_and_acknowledges_it(broker: Names) -> None:
    exchange = broker.exchange("grace")
    began, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def slow(got: Event) -> None:
        began.set()
        await release.wait()
        finished.append(got.id)

    first = await started(worker(exchange, slow))
    publisher = RabbitPublisher(RABBIT_URL, exchange, first.group_topics)
    received: asyncio.Queue[int] = asyncio.Queue()

    async def record(got: Event) -> None:
        await received.put(got.id)

    try:
        await publisher.publish(event(1))
        await asyncio.wait_for(began.wait(), DEADLINE)
        closing = asyncio.create_task(first.close(grace=DEADLINE))
        done, _ = await asyncio.wait({closing}, timeout=0.5)
        assert not done, "it waits for the handler under way"
        release.set()
        await asyncio.wait_for(closing, DEADLINE)
        assert finished == [1]

        second = await started(worker(exchange, record))
        await publisher.publish(event(2))  # a barrier: a redelivered 1 would come first
        assert await asyncio.wait_for(received.get(), DEADLINE) == 2
        await second.close()
    finally:
        await publisher.close()


async def test_a_handler_that_outlasts_the_grace_is_cut_off_and_its_event_redelivered(
    broker: Names,
) -> None:
    exchange = broker.exchange("cut")
    began = asyncio.Event()

    async def endless(_: Event) -> None:
        began.set()
        await asyncio.Event().wait()

    first = await started(worker(exchange, endless))
    publisher = RabbitPublisher(RABBIT_URL, exchange, first.group_topics)
    received: asyncio.Queue[int] = asyncio.Queue()

    async def record(got: Event) -> None:
        await received.put(got.id)

    try:
        await publisher.publish(event(7))
        await asyncio.wait_for(began.wait(), DEADLINE)
        await asyncio.wait_for(first.close(grace=0.2), DEADLINE)

        second = await started(worker(exchange, record))
        assert await asyncio.wait_for(received.get(), DEADLINE) == 7
        await second.close()
    finally:
        await publisher.close()

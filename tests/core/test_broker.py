"""The outbox over RabbitMQ: confirmed publishing, a consumer with acks, dead letters.

Runs against the RabbitMQ on 127.0.0.1:5672 (guest/guest), with exchanges and queues
named for this test session and deleted at its end. With `CI=true` RabbitMQ is
required; elsewhere these tests are skipped, loudly, when it is unreachable.
"""

from __future__ import annotations

import asyncio

import aio_pika
import httpx
import pytest
from sqlalchemy import select

from tessera.core.broker import DELIVERY_LIMIT, Consumer, RabbitPublisher, decode
from tessera.core.config import ConfigError, load_settings
from tessera.core.outbox import Event, InProcessPublisher, OutboxEvent, Relay
from tests.accounts.helpers import db, runtime_of
from tests.broker import RABBIT_URL, Names
from tests.conftest import AppFactory, MakeUser
from tests.posts.helpers import publish

CLOSED_URL = "amqp://guest:guest@127.0.0.1:1/"
"""Nothing listens on port 1: a broker that is down."""
DEADLINE = 30.0


def test_the_broker_url_must_be_amqp() -> None:
    assert load_settings(broker_url="amqps://u:p@rabbit:5671/vh").broker_url
    assert load_settings(broker_url="").broker_url is None
    with pytest.raises(ConfigError, match="TESSERA_BROKER_URL: must start with amqp://"):
        load_settings(broker_url="redis://127.0.0.1:6379/0")


async def _post_event(client: httpx.AsyncClient, post_id: int) -> OutboxEvent:
    async with db(client) as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "post.created"))
        [row] = [row for row in rows if row.payload["post_id"] == post_id]
        return row


async def test_post_created_reaches_a_handler_once_through_rabbitmq(
    make_client: AppFactory, make_user: MakeUser, broker: Names
) -> None:
    client = await make_client(broker_url=RABBIT_URL, broker_exchange=broker.exchange("once"))
    runtime = runtime_of(client)
    assert runtime.consumer is not None
    got: asyncio.Queue[Event] = asyncio.Queue()

    async def handler(event: Event) -> None:
        await got.put(event)

    runtime.handlers.subscribe("post.created", handler)
    try:
        await asyncio.wait_for(runtime.consumer.ready.wait(), DEADLINE)
        author = await make_user("broker")
        first = int((await publish(client, author))["id"])

        event = await asyncio.wait_for(got.get(), DEADLINE)
        assert event.payload["post_id"] == first
        row = await _post_event(client, first)
        assert event.id == row.id
        assert row.published_at is not None  # marked once the broker confirmed

        # A second post is a barrier: once it arrived, a redelivery of the first would have.
        second = int((await publish(client, author))["id"])
        event = await asyncio.wait_for(got.get(), DEADLINE)
        assert event.payload["post_id"] == second
        assert got.empty()
    finally:
        for consumer in runtime.consumers.values():
            await consumer.close()
        await runtime.relay.close()  # its sweep would publish later tests' events


async def test_writes_succeed_while_the_broker_is_down_and_go_out_later(
    make_client: AppFactory, make_user: MakeUser, broker: Names
) -> None:
    exchange = broker.exchange("down")
    client = await make_client(broker_url=CLOSED_URL, broker_exchange=exchange)
    runtime = runtime_of(client)
    assert runtime.consumer is not None
    author = await make_user("offline")

    post_id = int((await publish(client, author))["id"])  # the write succeeds
    await runtime.relay.idle()
    row = await _post_event(client, post_id)
    assert row.published_at is None  # not confirmed: it waits in the outbox
    for consumer in runtime.consumers.values():
        await consumer.close()
    await runtime.relay.close()  # so that its sweep holds no rows while ours drains

    got: asyncio.Queue[Event] = asyncio.Queue()

    async def handler(event: Event) -> None:
        await got.put(event)

    handlers = InProcessPublisher()
    handlers.subscribe("post.created", handler)
    consumer = Consumer(RABBIT_URL, exchange, "feed", handlers)
    relay = Relay(runtime.engine, RabbitPublisher(RABBIT_URL, exchange, consumer.group_topics))
    consumer.start()
    try:
        await asyncio.wait_for(consumer.ready.wait(), DEADLINE)
        assert await relay.drain() >= 1
        while (event := await asyncio.wait_for(got.get(), DEADLINE)).id != row.id:
            pass
        assert event.payload["post_id"] == post_id
        assert (await _post_event(client, post_id)).published_at is not None
    finally:
        await relay.close()
        await consumer.close()


async def test_a_failing_handler_dead_letters_the_event_after_the_limit(
    make_client: AppFactory, make_user: MakeUser, broker: Names
) -> None:
    exchange = broker.exchange("dead")
    client = await make_client(broker_url=RABBIT_URL, broker_exchange=exchange)
    runtime = runtime_of(client)
    assert runtime.consumer is not None
    attempts: list[int] = []

    async def always_fails(event: Event) -> None:
        attempts.append(event.id)
        raise RuntimeError("this handler always fails")

    runtime.handlers.subscribe("post.created", always_fails)
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        await asyncio.wait_for(runtime.consumer.ready.wait(), DEADLINE)
        author = await make_user("poison")
        post_id = int((await publish(client, author))["id"])
        row = await _post_event(client, post_id)

        channel = await connection.channel()
        dead = await channel.declare_queue(
            f"{exchange}.dead", durable=True, arguments={"x-queue-type": "quorum"}
        )

        async def first_dead() -> aio_pika.abc.AbstractIncomingMessage:
            async with dead.iterator() as messages:
                async for message in messages:
                    await message.ack()
                    return message
            raise AssertionError("the dead-letter queue closed")

        message = await asyncio.wait_for(first_dead(), DEADLINE)
        assert message.message_id == str(row.id)
        assert decode(message.body).payload["post_id"] == post_id
        assert attempts == [row.id] * DELIVERY_LIMIT
    finally:
        await connection.close()
        for consumer in runtime.consumers.values():
            await consumer.close()
        await runtime.relay.close()  # its sweep would publish later tests' events

"""With RabbitMQ, the notification handlers consume a queue of their own, so the feed's
failures never make them see an event twice (and theirs never redeliver the feed's)."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import httpx

from tessera.core.broker import DELIVERY_LIMIT
from tessera.core.outbox import Event
from tessera.notifications import GROUP
from tests.accounts.helpers import runtime_of
from tests.broker import RABBIT_URL, Names
from tests.conftest import AppFactory, MakeUser, User
from tests.interactions.helpers import acted
from tests.notifications.helpers import NOTIFICATIONS
from tests.posts.helpers import publish

DEADLINE = 30.0


async def _notified(client: httpx.AsyncClient, user: User) -> list[str]:
    """The user's notification types, once there are any (the worker handles events
    after the request returned), or [] at the deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        response = await client.get(NOTIFICATIONS, headers=user.auth)
        types = [n["type"] for n in response.json()]
        if types or time.monotonic() > deadline:
            return types
        await asyncio.sleep(0.05)  # a poll interval, not a wait for the outcome


async def test_a_failing_feed_handler_does_not_redeliver_to_notifications(
    make_client: AppFactory, make_user: MakeUser, broker: Names
) -> None:
    exchange = broker.exchange("groups")
    client = await make_client(broker_url=RABBIT_URL, broker_exchange=exchange)
    runtime = runtime_of(client)
    assert set(runtime.consumers) == {"feed", GROUP}
    feed_attempts: list[int] = []
    notification_attempts: list[int] = []

    async def always_fails(event: Event) -> None:
        feed_attempts.append(event.id)
        raise RuntimeError("this feed handler always fails")

    notified = asyncio.Event()

    async def counts(event: Event) -> None:
        notification_attempts.append(event.id)
        notified.set()

    runtime.handlers.subscribe("favourite.created", always_fails)
    runtime.handler_group(GROUP).subscribe("favourite.created", counts)
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        for consumer in runtime.consumers.values():
            await asyncio.wait_for(consumer.ready.wait(), DEADLINE)
        author, fan = await make_user("author"), await make_user("fan")
        status = await publish(client, author)
        await acted(client, fan, status["id"], "favourite")

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
        assert message.type == "favourite.created"
        assert feed_attempts == [int(str(message.message_id))] * DELIVERY_LIMIT
        # The notifications' own queue may deliver before or after the feed gave up.
        assert await _notified(client, author) == ["favourite"]
        await asyncio.wait_for(notified.wait(), DEADLINE)
        assert notification_attempts == [int(str(message.message_id))]
    finally:
        await connection.close()
        for consumer in runtime.consumers.values():
            await consumer.close()
        await runtime.relay.close()  # its sweep would publish later tests' events

"""The transactional outbox: events commit with their transaction, then reach handlers once."""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlalchemy import func, select

from tessera.core.db import session_scope
from tessera.core.outbox import Event, OutboxEvent, Relay, emit, subscribe
from tessera.core.runtime import Runtime
from tests.accounts.helpers import db, runtime_of
from tests.conftest import MakeUser
from tests.posts.helpers import STATUSES, event_count, publish, upload


async def _rows(client: httpx.AsyncClient, topic: str) -> list[OutboxEvent]:
    async with db(client) as session:
        return list(await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic)))


async def _emit_then_fail(runtime: Runtime, topic: str) -> None:
    async with session_scope(runtime.sessions) as session:
        emit(session, topic, {"n": 1})
        await session.flush()
        raise RuntimeError("the request failed after emitting")


async def test_events_commit_or_roll_back_with_their_transaction(
    client: httpx.AsyncClient,
) -> None:
    runtime = runtime_of(client)
    topic = f"test.{secrets.token_hex(4)}"
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    unsubscribe = subscribe(topic, handler)
    try:
        with pytest.raises(RuntimeError):
            await _emit_then_fail(runtime, topic)
        await runtime.relay.idle()
        assert await _rows(client, topic) == []
        assert seen == []

        async with session_scope(runtime.sessions) as session:
            emit(session, topic, {"n": 2})
        await runtime.relay.idle()
        [row] = await _rows(client, topic)
        assert row.published_at is not None
        assert [(e.id, e.payload) for e in seen] == [(row.id, {"n": 2})]
    finally:
        unsubscribe()


async def test_post_events_are_delivered_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    runtime = runtime_of(client)
    created: list[Event] = []
    deleted: list[Event] = []

    async def on_created(event: Event) -> None:
        created.append(event)

    async def on_deleted(event: Event) -> None:
        deleted.append(event)

    stop = [subscribe("post.created", on_created), subscribe("post.deleted", on_deleted)]
    try:
        author = await make_user("events")
        status = await publish(client, author, visibility="private")
        post_id, account_id = int(status["id"]), int(author.id)
        await runtime.relay.idle()
        await runtime.relay.drain()  # a second drain finds nothing left to send

        mine = [e for e in created if e.payload["post_id"] == post_id]
        assert [e.payload for e in mine] == [
            {"post_id": post_id, "account_id": account_id, "visibility": "private"}
        ]

        response = await client.delete(f"{STATUSES}/{status['id']}", headers=author.auth)
        assert response.status_code == 200
        await runtime.relay.idle()
        assert [e.payload for e in deleted if e.payload["post_id"] == post_id] == [
            {"post_id": post_id, "account_id": account_id, "visibility": "private"}
        ]
        assert len([e for e in created if e.payload["post_id"] == post_id]) == 1
    finally:
        for unsubscribe in stop:
            unsubscribe()


async def test_a_refused_post_writes_no_event(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("refused")
    other = await make_user("refused")
    theirs = await upload(client, other)
    before = await event_count(client)

    response = await client.post(
        STATUSES, headers=author.auth, data={"media_ids[]": [await upload(client, author), theirs]}
    )

    assert response.status_code == 422
    assert await event_count(client) == before


async def test_leftover_events_are_published_on_start_up(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Rows a dead process committed but never published go out when a process starts."""
    topic = f"test.{secrets.token_hex(4)}"
    async with db(client) as session:
        session.add(OutboxEvent(topic=topic, payload={"left": True}))
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    unsubscribe = subscribe(topic, handler)
    try:
        relay = Relay(runtime_of(client).engine)
        relay.wake()
        await relay.idle()
        assert [e.payload for e in seen] == [{"left": True}]
        async with db(client) as session:
            unpublished = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == topic, OutboxEvent.published_at.is_(None))
            )
        assert unpublished == 0
    finally:
        unsubscribe()

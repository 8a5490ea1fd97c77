"""Shared steps for the notifications tests: likes, comments, follows, reading the list."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, update

from tessera.core.outbox import OutboxEvent
from tests.accounts.helpers import db, runtime_of
from tests.conftest import User
from tests.feed.helpers import settle
from tests.interactions.helpers import acted
from tests.posts.helpers import comment, publish

NOTIFICATIONS = "/api/v1/notifications"


async def notifications(
    client: httpx.AsyncClient, user: User, **params: Any
) -> list[dict[str, Any]]:
    """The user's notifications (one page, newest first), once every event was handled."""
    response = await listing(client, user, **params)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def listing(client: httpx.AsyncClient, user: User, **params: Any) -> httpx.Response:
    await settle(client)
    return await client.get(NOTIFICATIONS, headers=user.auth, params=params)


def causes(items: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(type, account id, status id) of each notification, in order."""
    return [(n["type"], n["account"]["id"], n.get("status", {}).get("id")) for n in items]


async def like(client: httpx.AsyncClient, user: User, status_id: str) -> None:
    await acted(client, user, status_id, "favourite")
    await settle(client)


async def unlike(client: httpx.AsyncClient, user: User, status_id: str) -> None:
    await acted(client, user, status_id, "unfavourite")
    await settle(client)


async def post(
    client: httpx.AsyncClient, user: User, caption: str = "", *, visibility: str = "public"
) -> str:
    status_id: str = (await publish(client, user, caption, visibility=visibility))["id"]
    await settle(client)
    return status_id


async def reply(client: httpx.AsyncClient, user: User, parent_id: str, text: str = "Nice!") -> str:
    status_id: str = (await comment(client, user, parent_id, text))["id"]
    await settle(client)
    return status_id


async def answer_request(
    client: httpx.AsyncClient, target: User, requester: User, verdict: str
) -> None:
    """Authorize or reject a pending follow request."""
    response = await client.post(
        f"/api/v1/follow_requests/{requester.id}/{verdict}", headers=target.auth
    )
    assert response.status_code == 200, response.text
    await settle(client)


async def redeliver(client: httpx.AsyncClient, topic: str, **payload: int) -> int:
    """Publish again the events on `topic` whose payload has these values, as after a
    relay died before marking them published; returns how many there were."""
    async with db(client) as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic))
        ids = [row.id for row in rows if all(row.payload.get(k) == v for k, v in payload.items())]
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=None)
        )
    await runtime_of(client).relay.drain()
    return len(ids)

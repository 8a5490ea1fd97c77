"""Shared steps for the interactions tests: likes, saves, their lists, their rows."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from tessera.core.outbox import OutboxEvent
from tessera.interactions.models import Favourite
from tests.accounts.helpers import db
from tests.conftest import User
from tests.posts.helpers import STATUSES


async def act(client: httpx.AsyncClient, user: User, status_id: str, action: str) -> httpx.Response:
    """POST /api/v1/statuses/:id/<action> (favourite, unfavourite, bookmark, unbookmark)."""
    return await client.post(f"{STATUSES}/{status_id}/{action}", headers=user.auth)


async def acted(
    client: httpx.AsyncClient, user: User, status_id: str, action: str
) -> dict[str, Any]:
    """The Status answered by an action that must succeed."""
    response = await act(client, user, status_id, action)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def status_of(client: httpx.AsyncClient, user: User, status_id: str) -> dict[str, Any]:
    response = await client.get(f"{STATUSES}/{status_id}", headers=user.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def favourites_count(client: httpx.AsyncClient, author: User, status_id: str) -> int:
    """The count the post's author reads."""
    count: int = (await status_of(client, author, status_id))["favourites_count"]
    return count


async def like_rows(client: httpx.AsyncClient, status_id: str) -> int:
    """How many like rows the post has in the database."""
    async with db(client) as session:
        statement = select(func.count()).where(Favourite.post_id == int(status_id))
        return (await session.scalar(statement)) or 0


async def events(client: httpx.AsyncClient, topic: str, status_id: str) -> list[dict[str, Any]]:
    """The payloads of the outbox events on `topic` about this post, oldest first."""
    async with db(client) as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)
        )
        return [row.payload for row in rows if row.payload.get("post_id") == int(status_id)]


async def listed(
    client: httpx.AsyncClient, path: str, user: User | None = None, **params: Any
) -> httpx.Response:
    response = await client.get(path, headers=user.auth if user else {}, params=params)
    assert response.status_code == 200, response.text
    return response


def ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()]

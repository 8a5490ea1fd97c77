"""Shared steps for the posts tests: photos, uploads, posts, reads."""

from __future__ import annotations

import secrets
import struct
import zlib
from typing import Any

import httpx
from sqlalchemy import func, select

from tessera.core.outbox import OutboxEvent
from tessera.core.runtime import Runtime
from tests.accounts.helpers import db, runtime_of
from tests.conftest import User

STATUSES = "/api/v1/statuses"


def photo(width: int = 48, height: int = 40, *, colour: bytes | None = None) -> bytes:
    """A valid RGB PNG of one colour: random unless given, so that two calls with the
    same colour store the same (content-addressed) files and other calls do not."""
    colour = colour or secrets.token_bytes(3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + colour * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def upload(
    client: httpx.AsyncClient, user: User, data: bytes | None = None, description: str = ""
) -> str:
    """Uploads a photo; returns the media id."""
    response = await client.post(
        "/api/v2/media",
        headers=user.auth,
        files={"file": ("photo.png", data or photo(), "image/png")},
        data={"description": description},
    )
    assert response.status_code == 200, response.text
    media_id: str = response.json()["id"]
    return media_id


async def publish(
    client: httpx.AsyncClient,
    user: User,
    caption: str = "",
    *,
    photos: int = 1,
    media_ids: list[str] | None = None,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> dict[str, Any]:
    """Posts (uploading `photos` photos unless `media_ids` is given); returns the Status."""
    if media_ids is None:
        media_ids = [await upload(client, user) for _ in range(photos)]
    response = await client.post(
        STATUSES,
        headers={**user.auth, **(headers or {})},
        data={"status": caption, "media_ids[]": media_ids, **fields},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def comment(
    client: httpx.AsyncClient, user: User, parent_id: str, text: str = "Nice!", **fields: str
) -> dict[str, Any]:
    response = await client.post(
        STATUSES,
        headers=user.auth,
        data={"status": text, "in_reply_to_id": parent_id, **fields},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def account(client: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/accounts/{account_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def event_count(client: httpx.AsyncClient) -> int:
    async with db(client) as session:
        return (await session.scalar(select(func.count()).select_from(OutboxEvent))) or 0


def runtime(client: httpx.AsyncClient) -> Runtime:
    return runtime_of(client)

"""Shared steps of the media tests: uploads, what was left behind, decoding served files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pyvips
from sqlalchemy import func, select

from tessera.media.models import MediaAttachment
from tests.accounts.helpers import db
from tests.conftest import User

UPLOAD = "/api/v2/media"
RENDITIONS = ("original", "small", "tiny", "thumbnail")


async def upload(
    client: httpx.AsyncClient,
    user: User,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    **fields: str,
) -> httpx.Response:
    """POST /api/v2/media as Mastodon.py sends it (multipart, the fields beside the file)."""
    return await client.post(
        UPLOAD,
        headers=user.auth,
        data=fields,
        files={"file": (filename, data, content_type)},
    )


async def uploaded(client: httpx.AsyncClient, user: User, data: bytes, **fields: str) -> Any:
    """The MediaAttachment of an upload that must succeed."""
    response = await upload(client, user, data, **fields)
    assert response.status_code == 200, response.text
    return response.json()


async def media_count(client: httpx.AsyncClient) -> int:
    async with db(client) as session:
        count = await session.scalar(select(func.count()).select_from(MediaAttachment))
    return count or 0


async def media_row(client: httpx.AsyncClient, media_id: str) -> MediaAttachment:
    async with db(client) as session:
        media = await session.get(MediaAttachment, int(media_id))
    assert media is not None
    return media


def files_under(root: Path) -> set[str]:
    """Every file below `root` (the SQLite files aside: they come and go on their own)."""
    if not root.exists():
        return set()
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith("tessera.db")
    }


def open_files_in(directory: str) -> list[str]:
    """Files this process holds open inside `directory` (unlinked ones included)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (the fd of listdir itself)
        if target.startswith(directory + os.sep):
            held.append(target)
    return held


Refused = Callable[
    [httpx.AsyncClient, int, Callable[[], Awaitable[httpx.Response]]], Awaitable[dict[str, Any]]
]
"""`refused(client, status, send)`: see the `refused` fixture."""


def decoded(data: bytes) -> pyvips.Image:
    image: pyvips.Image = pyvips.Image.new_from_buffer(data, "")
    return image


def loader(data: bytes) -> str:
    return str(decoded(data).get("vips-loader"))


METADATA_FIELDS = ("exif", "xmp", "iptc", "gps", "comment", "icc", "orientation")


def metadata_fields(data: bytes) -> list[str]:
    """The metadata libvips finds in a file (none should survive our pipeline)."""
    return [
        name
        for name in decoded(data).get_fields()
        if any(marker in name.lower() for marker in METADATA_FIELDS)
    ]


def temp_dir() -> str:
    return tempfile.gettempdir()

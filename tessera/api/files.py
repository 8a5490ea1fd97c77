"""Serving stored files (immutable, content-addressed) and the default avatar."""

from __future__ import annotations

import struct
import zlib
from functools import cache

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

router = APIRouter()

IMMUTABLE = "public, max-age=31536000, immutable"


class ImmutableFiles(StaticFiles):
    """StaticFiles (ETag, 304, Range) plus a year-long immutable Cache-Control."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_cached(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start" and message.get("status") in (
                200,
                206,
                304,
            ):
                message["headers"] = [*message["headers"], (b"cache-control", IMMUTABLE.encode())]  # type: ignore[misc]
            await send(message)

        await super().__call__(scope, receive, send_cached)  # type: ignore[arg-type]


@cache
def _grey_png() -> bytes:
    """A 1×1 neutral-grey PNG, made here so the project ships no binary asset."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\xc8")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@router.get("/avatars/missing.png", include_in_schema=False)
@router.get("/headers/missing.png", include_in_schema=False)
async def missing_image() -> Response:
    return Response(
        _grey_png(), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
    )

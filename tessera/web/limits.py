"""How much one web request may carry."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from tessera.core.errors import PayloadTooLarge
from tessera.core.runtime import runtime_of

__all__ = ["PHOTOS_MAX", "body_within", "file_size"]

PHOTOS_MAX = 10
"""The most photos one request carries (a post sent without scripts), as on the API."""
MULTIPART_OVERHEAD = 64 * 1024


def file_size(size: int) -> str:
    """`20 MB`, `500 KB`: a limit as people read it."""
    if size >= 2**20:
        return f"{size / 2**20:.3g} MB"
    if size >= 2**10:
        return f"{size / 2**10:.3g} KB"
    return f"{size} bytes"


def body_within(photos: int = PHOTOS_MAX) -> Any:
    """A dependency: a 413 from the declared length, before a body too large for this
    many photos is read (and spooled to disk) at all."""

    async def check(request: Request) -> None:
        declared = request.headers.get("content-length", "")
        limit = runtime_of(request).settings.media_size_limit
        if declared.isdigit() and int(declared) > photos * limit + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(f"That is too large: each photo may be up to {file_size(limit)}.")

    return Depends(check)

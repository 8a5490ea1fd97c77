"""Decide an image's type from its first bytes, never from its name or declared type."""

from __future__ import annotations

__all__ = ["image_extension"]


def image_extension(head: bytes) -> str | None:
    """`jpg`, `png`, `gif` or `webp` when the bytes start like one, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None

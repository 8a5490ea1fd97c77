"""The table the media service owns: uploaded photos and where their renditions live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db import Base, IdPK, UTCDateTime, utcnow

__all__ = ["MediaAttachment"]

DESCRIPTION_MAX = 1500


class MediaAttachment(IdPK, Base):
    """One uploaded photo, processed; `post_id` is set once a post uses it."""

    __tablename__ = "media_attachments"

    account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    post_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    mime_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    focus_x: Mapped[float] = mapped_column(Float, default=0.0)
    focus_y: Mapped[float] = mapped_column(Float, default=0.0)
    blurhash: Mapped[str] = mapped_column(String(64))
    source_width: Mapped[int] = mapped_column(Integer)
    source_height: Mapped[int] = mapped_column(Integer)
    files: Mapped[dict[str, Any]] = mapped_column(JSON)
    """{rendition: {"jpeg": key, "webp": key, "width": w, "height": h}}"""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

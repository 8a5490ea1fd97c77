"""The tables the notifications service owns: notifications and read markers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db import Base, IdPK, UTCDateTime, utcnow

__all__ = ["TIMELINES", "TYPES", "Marker", "Notification"]

TYPES = ("mention", "favourite", "follow", "follow_request")
"""The types this server creates (Mastodon knows more; filters naming others match nothing)."""
TIMELINES = ("home", "notifications")


class Notification(IdPK, Base):
    """`from_account_id` did something `account_id` hears of: liked (`favourite`) or
    mentioned in / commented on (`mention`) the post `status_id`, followed, or asked to.

    Ids only, no foreign keys: the accounts and posts belong to other services, and the
    handlers delete a notification when its cause is undone. One cause makes one row:
    the unique index makes a redelivered event create nothing.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index(
            "uq_notifications_cause",
            "account_id",
            "type",
            "from_account_id",
            text("coalesce(status_id, 0)"),  # NULLs never collide in a unique index
            unique=True,
        ),
        Index("ix_notifications_account_id_id", "account_id", "id"),
        Index("ix_notifications_status_id", "status_id"),
    )

    account_id: Mapped[int] = mapped_column(BigInteger)
    """The recipient."""
    from_account_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    status_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The post liked, or the post or comment that mentions; none for follows."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Marker(Base):
    """How far an account has read one of its timelines (`home` or `notifications`)."""

    __tablename__ = "markers"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timeline: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Grows by one with each save; a save that raced another one is refused (409)."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The table of Web Push subscriptions, owned by the notifications service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db import Base, IdPK, UTCDateTime, utcnow

__all__ = ["ALERTS", "POLICIES", "PushSubscription"]

ALERTS = (
    "mention",
    "status",
    "reblog",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
    "admin.sign_up",
    "admin.report",
    "quote",
    "quoted_update",
)
"""The alert names a subscription may switch on (Mastodon's notification types); this
server makes only `mention`, `favourite`, `follow` and `follow_request` so far."""
POLICIES = ("all", "followed", "follower", "none")
"""Whose actions are pushed: anyone's, accounts the recipient follows, its followers,
nobody's."""


class PushSubscription(IdPK, Base):
    """Where to push one access token's notifications (one subscription per token, as on
    Mastodon), with the keys to encrypt them for the subscriber (RFC 8291).

    Ids only, no foreign keys: the account and the token belong to the accounts service.
    A subscription whose token is revoked or expired is deleted when it would next be
    pushed to, as is one the push service says is gone (404, 410).
    """

    __tablename__ = "push_subscriptions"

    account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    """The recipient: the token's account."""
    token_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    endpoint: Mapped[str] = mapped_column(String(2048))
    """A capability URL of the push service: a secret, never logged."""
    p256dh: Mapped[str] = mapped_column(String(100))
    """The subscriber's P-256 public key (uncompressed point), base64url without padding."""
    auth: Mapped[str] = mapped_column(String(32))
    """The subscriber's 16-byte authentication secret, base64url without padding."""
    alerts: Mapped[list[str]] = mapped_column(JSON)
    """The alert names switched on."""
    policy: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

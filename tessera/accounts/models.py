"""The tables the accounts service owns: people, OAuth apps and tokens, the follow graph."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db import Base, IdPK, UTCDateTime, utcnow

__all__ = ["Account", "AuthorizationCode", "Follow", "FollowRequest", "OAuthApp", "Token"]

USERNAME_MAX = 30
DISPLAY_NAME_MAX = 30
NOTE_MAX = 500
EMAIL_MAX = 254


class Account(IdPK, Base):
    """A person: log-in credentials, profile and exact counters."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    """The username lower-cased: usernames are unique regardless of case."""
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    """Stored lower-cased."""
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    bot: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    default_privacy: Mapped[str] = mapped_column(String(16), default="public")
    default_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    default_language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    avatar_file: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """Storage key of the 400×400 JPEG."""
    avatar_small_file: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """Storage key of the 80×80 JPEG."""
    header_file: Mapped[str | None] = mapped_column(String(128), nullable=True)
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, default=0)
    follow_requests_count: Mapped[int] = mapped_column(Integer, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OAuthApp(IdPK, Base):
    """A registered client application (`POST /api/v1/apps`)."""

    __tablename__ = "oauth_apps"

    name: Mapped[str] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    redirect_uris: Mapped[str] = mapped_column(Text)
    """Newline-separated, as Mastodon stores them."""
    scopes: Mapped[str] = mapped_column(String(1000))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Token(IdPK, Base):
    """An access token; only the SHA-256 of the token (and refresh token) is stored."""

    __tablename__ = "oauth_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    app_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    """None for an app token (client_credentials)."""
    scopes: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuthorizationCode(IdPK, Base):
    """A one-time code from `/oauth/authorize`, exchanged at `/oauth/token`."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scopes: Mapped[str] = mapped_column(String(1000))
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Follow(IdPK, Base):
    """`account_id` follows `target_account_id`; the row id is the pagination cursor."""

    __tablename__ = "follows"
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    target_account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    show_reblogs: Mapped[bool] = mapped_column(Boolean, default=True)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowRequest(IdPK, Base):
    """A pending follow of a locked account."""

    __tablename__ = "follow_requests"
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    target_account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    show_reblogs: Mapped[bool] = mapped_column(Boolean, default=True)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

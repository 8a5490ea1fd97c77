"""The tables the posts service owns: posts (and comments), their hashtags and mentions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db import Base, IdPK, UTCDateTime, utcnow

__all__ = ["CAPTION_MAX", "TAG_MAX", "IdempotencyKey", "Post", "PostMention", "PostTag"]

CAPTION_MAX = 2200
TAG_MAX = 100
SPOILER_MAX = 500


class Post(IdPK, Base):
    """A photo post (1–10 media, held by the media service in order) or a comment on one
    (`in_reply_to_id` set, no media). Counters change in the database, so they are exact."""

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_account_id_id", "account_id", "id"),
        Index("ix_posts_in_reply_to_id_id", "in_reply_to_id", "id"),
    )

    account_id: Mapped[int] = mapped_column(BigInteger)
    in_reply_to_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """No foreign key: a comment outlives the post it answered, as on Mastodon. The
    index reads a thread's oldest replies first without sorting them all."""
    in_reply_to_account_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    visibility: Mapped[str] = mapped_column(String(16))
    """public, unlisted or private (followers only)."""
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    spoiler_text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    """The source text as typed; rendered to HTML on the way out."""
    media_count: Mapped[int] = mapped_column(Integer, default=0)
    application_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    replies_count: Mapped[int] = mapped_column(Integer, default=0)
    reblogs_count: Mapped[int] = mapped_column(Integer, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PostTag(Base):
    """A hashtag in a caption, lower-cased; the index serves hashtag timelines."""

    __tablename__ = "post_tags"
    __table_args__ = (Index("ix_post_tags_name_post_id", "name", "post_id"),)

    post_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(TAG_MAX), primary_key=True)


class PostMention(Base):
    """A local account named in a caption (`@username`)."""

    __tablename__ = "post_mentions"

    post_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


class IdempotencyKey(IdPK, Base):
    """An `Idempotency-Key` an account sent with a post; honoured for an hour."""

    __tablename__ = "post_idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key_hash"),)

    account_id: Mapped[int] = mapped_column(BigInteger)
    key_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the client's key, which may be any length."""
    post_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

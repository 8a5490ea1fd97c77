"""The table the feed service owns: home feeds on the embedded backend."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index
from sqlalchemy.orm import Mapped, mapped_column

from tessera.core.db import Base

__all__ = ["HomeFeedEntry"]


class HomeFeedEntry(Base):
    """Post `post_id` by `author_id` is in the home feed of `account_id`.

    Ids only, and no foreign keys: posts and accounts belong to other services, and the
    feed handlers remove entries when a post goes or a follow ends.
    """

    __tablename__ = "home_feed_entries"
    __table_args__ = (Index("ix_home_feed_entries_post_id", "post_id"),)

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    post_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    author_id: Mapped[int] = mapped_column(BigInteger)

"""The tables the interactions service owns: likes (favourites) and saved posts (bookmarks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from tessera.core.db import Base, IdPK, UTCDateTime, utcnow

__all__ = ["Bookmark", "Favourite", "Mark"]


class Mark(IdPK):
    """An account's mark on a post, at most one per pair. The row id (the account's
    shard) is the cursor of the lists of marks. Ids only, no foreign keys: accounts and
    posts belong to other services."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        table = cls.__tablename__  # type: ignore[attr-defined]
        return (
            UniqueConstraint("account_id", "post_id"),
            Index(f"ix_{table}_account_id_id", "account_id", "id"),
            Index(f"ix_{table}_post_id_id", "post_id", "id"),
        )

    account_id: Mapped[int] = mapped_column(BigInteger)
    post_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Favourite(Mark, Base):
    """A like: counted in the post's `favourites_count`, listed in `favourited_by`."""

    __tablename__ = "favourites"


class Bookmark(Mark, Base):
    """A saved post: seen only by the account that saved it."""

    __tablename__ = "bookmarks"

"""All SQL of the interactions service; every function works on either kind of mark."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Insert, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.db import utcnow
from tessera.core.ids import new_id
from tessera.core.pagination import Page, newest_first, within
from tessera.interactions.models import Bookmark, Favourite

Kind = type[Favourite] | type[Bookmark]


def _insert(session: AsyncSession, kind: Kind) -> Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(kind).on_conflict_do_nothing()
    return sqlite.insert(kind).on_conflict_do_nothing()


async def add(session: AsyncSession, kind: Kind, account_id: int, post_id: int) -> bool:
    """Insert the mark; False when it was there already (a repeat, or a concurrent
    duplicate, which waits for the first one's transaction and then finds it)."""
    inserted = await session.scalar(
        _insert(session, kind)
        .values(id=new_id(account_id), account_id=account_id, post_id=post_id, created_at=utcnow())
        .returning(kind.id)
    )
    return inserted is not None


async def remove(session: AsyncSession, kind: Kind, account_id: int, post_id: int) -> bool:
    """Delete the mark; False when there was none (a concurrent removal took it first)."""
    removed = await session.scalar(
        delete(kind)
        .where(kind.account_id == account_id, kind.post_id == post_id)
        .returning(kind.id)
        .execution_options(synchronize_session=False)
    )
    return removed is not None


async def marked_among(
    session: AsyncSession, kind: Kind, account_id: int, post_ids: Collection[int]
) -> set[int]:
    """Which of these posts the account has marked."""
    if not post_ids:
        return set()
    rows = await session.scalars(
        select(kind.post_id).where(kind.account_id == account_id, kind.post_id.in_(post_ids))
    )
    return set(rows)


async def marks_of_account(
    session: AsyncSession, kind: Kind, account_id: int, page: Page
) -> list[tuple[int, int]]:
    """(mark id, post id) of one page of the account's marks, newest first."""
    statement = select(kind.id, kind.post_id).where(kind.account_id == account_id)
    rows = [(row[0], row[1]) for row in await session.execute(within(statement, kind.id, page))]
    return newest_first(rows, page)


async def marks_of_post(
    session: AsyncSession, kind: Kind, post_id: int, page: Page
) -> list[tuple[int, int]]:
    """(mark id, account id) of one page of the post's marks, newest first."""
    statement = select(kind.id, kind.account_id).where(kind.post_id == post_id)
    rows = [(row[0], row[1]) for row in await session.execute(within(statement, kind.id, page))]
    return newest_first(rows, page)


async def forget_post(session: AsyncSession, kind: Kind, post_id: int) -> None:
    await session.execute(
        delete(kind).where(kind.post_id == post_id).execution_options(synchronize_session=False)
    )

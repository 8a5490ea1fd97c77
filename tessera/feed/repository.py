"""All SQL of the feed service (the embedded backend's home feeds)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Insert, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tessera.core.pagination import Page, newest_first, within
from tessera.feed.models import HomeFeedEntry

Entry = tuple[int, int, int]
"""(feed owner, post id, author id)."""


def _insert(session: AsyncSession) -> Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(HomeFeedEntry).on_conflict_do_nothing()
    return sqlite.insert(HomeFeedEntry).on_conflict_do_nothing()


async def add(session: AsyncSession, entries: Sequence[Entry]) -> None:
    """Insert the entries, leaving those already there alone (delivery may repeat)."""
    if entries:
        await session.execute(
            _insert(session),
            [{"account_id": a, "post_id": p, "author_id": w} for a, p, w in entries],
        )


async def trim(session: AsyncSession, account_ids: Sequence[int], size: int) -> None:
    """Keep only the newest `size` entries of each of these feeds."""
    newer = aliased(HomeFeedEntry)
    nth = (
        select(newer.post_id)
        .where(newer.account_id == HomeFeedEntry.account_id)
        .order_by(newer.post_id.desc())
        .offset(size - 1)
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(
        delete(HomeFeedEntry)
        .where(HomeFeedEntry.account_id.in_(account_ids), HomeFeedEntry.post_id < nth)
        .execution_options(synchronize_session=False)
    )


async def page(session: AsyncSession, account_id: int, page: Page) -> list[int]:
    statement = select(HomeFeedEntry.post_id).where(HomeFeedEntry.account_id == account_id)
    rows = list(await session.scalars(within(statement, HomeFeedEntry.post_id, page)))
    return newest_first(rows, page)


async def has_entries(session: AsyncSession, account_id: int) -> bool:
    found = await session.scalar(select(exists().where(HomeFeedEntry.account_id == account_id)))
    return bool(found)


async def remove_author(session: AsyncSession, account_id: int, author_id: int) -> None:
    await session.execute(
        delete(HomeFeedEntry)
        .where(HomeFeedEntry.account_id == account_id, HomeFeedEntry.author_id == author_id)
        .execution_options(synchronize_session=False)
    )


async def remove_post(session: AsyncSession, post_id: int) -> None:
    await session.execute(
        delete(HomeFeedEntry)
        .where(HomeFeedEntry.post_id == post_id)
        .execution_options(synchronize_session=False)
    )

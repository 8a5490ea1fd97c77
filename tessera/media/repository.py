"""All SQL of the media service."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, Text, cast, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.media.models import MediaAttachment


async def get(session: AsyncSession, media_id: int) -> MediaAttachment | None:
    return await session.get(MediaAttachment, media_id)


async def by_ids(session: AsyncSession, media_ids: Iterable[int]) -> dict[int, MediaAttachment]:
    wanted = set(media_ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(MediaAttachment).where(MediaAttachment.id.in_(wanted)))
    return {row.id: row for row in rows}


async def attach(
    session: AsyncSession, media_id: int, account_id: int, post_id: int, position: int
) -> bool:
    """Give an unattached upload to a post; False when it is taken (or not the account's).

    The condition is in the UPDATE itself, so two posts racing for one upload cannot
    both get it.
    """
    result = await session.execute(
        update(MediaAttachment)
        .where(
            MediaAttachment.id == media_id,
            MediaAttachment.account_id == account_id,
            MediaAttachment.post_id.is_(None),
        )
        .values(post_id=post_id, position=position)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def of_posts(session: AsyncSession, post_ids: Iterable[int]) -> Sequence[MediaAttachment]:
    """The media of these posts, each post's in display order."""
    wanted = set(post_ids)
    if not wanted:
        return []
    rows = await session.scalars(
        select(MediaAttachment)
        .where(MediaAttachment.post_id.in_(wanted))
        .order_by(MediaAttachment.post_id, MediaAttachment.position)
    )
    return rows.all()


async def delete_of_post(session: AsyncSession, post_id: int) -> Sequence[MediaAttachment]:
    """Delete a post's media rows; returns what they were."""
    rows = (
        await session.scalars(select(MediaAttachment).where(MediaAttachment.post_id == post_id))
    ).all()
    if rows:
        await session.execute(
            delete(MediaAttachment)
            .where(MediaAttachment.post_id == post_id)
            .execution_options(synchronize_session=False)
        )
    return rows


async def keys_in_use(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Which of these storage keys some media row still names.

    Keys live inside the `files` JSON, so this scans the table with LIKE: fine for a
    deletion now and then, to be replaced by a key-reference table when it is not.
    """
    wanted = set(keys)
    if not wanted:
        return set()
    as_text = cast(MediaAttachment.files, Text)
    rows = await session.scalars(
        select(as_text).where(or_(*(as_text.contains(key, autoescape=True) for key in wanted)))
    )
    found: set[str] = set()
    for text in rows:
        found.update(key for key in wanted if key in text)
    return found


async def insert_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row INSERT (executemany) of complete attachment rows: bulk loading only."""
    if rows:
        await session.execute(insert(typing.cast(Table, MediaAttachment.__table__)), list(rows))

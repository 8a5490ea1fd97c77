"""The interactions service's rules: like and save posts, and list them.

Marks are set and removed only on posts the account may see (the posts service's
visibility chokepoint; anything else is a 404, as if the post did not exist), and change
state only once: a repeat, or the loser of two identical concurrent requests, writes
nothing. A like's row, the post's `favourites_count` and the `favourite.*` event are
written in one transaction, so the count is exactly the number of rows.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from tessera import posts
from tessera.core.errors import NotFound
from tessera.core.outbox import emit
from tessera.core.pagination import Page
from tessera.interactions import repository
from tessera.interactions.models import Bookmark, Favourite
from tessera.interactions.repository import Kind

__all__ = [
    "Kind",
    "bookmark",
    "favourite",
    "forget_post",
    "likers",
    "marked_posts",
    "unbookmark",
    "unfavourite",
    "viewer_marks",
]


async def favourite(session: AsyncSession, account_id: int, post_id: int) -> None:
    author_id = await posts.visible_post_author(session, account_id, post_id)
    if await repository.add(session, Favourite, account_id, post_id):
        await _count(session, post_id, 1)
        emit(session, "favourite.created", _event(account_id, post_id, author_id))


async def unfavourite(session: AsyncSession, account_id: int, post_id: int) -> None:
    author_id = await posts.visible_post_author(session, account_id, post_id)
    if await repository.remove(session, Favourite, account_id, post_id):
        await _count(session, post_id, -1)
        emit(session, "favourite.deleted", _event(account_id, post_id, author_id))


async def _count(session: AsyncSession, post_id: int, delta: int) -> None:
    if not await posts.add_favourites(session, post_id, delta):
        # Deleted since it was read: the request's transaction, like row included, rolls back.
        raise NotFound()


def _event(account_id: int, post_id: int, author_id: int) -> dict[str, object]:
    return {"account_id": account_id, "post_id": post_id, "post_author_id": author_id}


async def bookmark(session: AsyncSession, account_id: int, post_id: int) -> None:
    await posts.visible_post_author(session, account_id, post_id)
    await repository.add(session, Bookmark, account_id, post_id)


async def unbookmark(session: AsyncSession, account_id: int, post_id: int) -> None:
    await posts.visible_post_author(session, account_id, post_id)
    await repository.remove(session, Bookmark, account_id, post_id)


async def marked_posts(
    session: AsyncSession, kind: Kind, account_id: int, page: Page
) -> list[tuple[int, int]]:
    """(mark id, post id) of a page of the account's likes or saved posts, newest first;
    not yet checked for visibility (render them through the posts service)."""
    return await repository.marks_of_account(session, kind, account_id, page)


async def likers(
    session: AsyncSession, viewer_id: int | None, post_id: int, page: Page
) -> list[tuple[int, int]]:
    """(like id, account id) of a page of the post's likes, newest first; a 404 if the
    viewer may not see the post."""
    await posts.visible_post_author(session, viewer_id, post_id)
    return await repository.marks_of_post(session, Favourite, post_id, page)


async def viewer_marks(
    session: AsyncSession, viewer_id: int, post_ids: Collection[int]
) -> posts.Marks:
    """Which of these posts the viewer liked and saved: one query for each."""
    wanted = set(post_ids)
    return posts.Marks(
        favourited=frozenset(await repository.marked_among(session, Favourite, viewer_id, wanted)),
        bookmarked=frozenset(await repository.marked_among(session, Bookmark, viewer_id, wanted)),
    )


async def forget_post(session: AsyncSession, post_id: int) -> None:
    """Drop the marks of a deleted post (no events: the post's deletion is the news)."""
    for kind in (Favourite, Bookmark):
        await repository.forget_post(session, kind, post_id)

"""Plain functions other services call; each opens no transaction of its own."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.pagination import Page
from tessera.core.runtime import Links
from tessera.posts import render, service
from tessera.posts.service import FeedFacts

__all__ = [
    "FeedFacts",
    "authors_of",
    "count_posts",
    "feed_facts",
    "home_posts_of",
    "public_post_ids",
    "render_statuses",
]


async def count_posts(session: AsyncSession) -> int:
    """How many posts and comments exist (instance statistics)."""
    return await service.count_posts(session)


async def render_statuses(
    session: AsyncSession, viewer_id: int | None, post_ids: Sequence[int], urls: Links
) -> list[dict[str, Any]]:
    """Status entities for these ids, in their order, leaving out the posts that no
    longer exist and those the viewer may not see (the visibility chokepoint)."""
    posts = await service.posts_in_order(session, post_ids)
    return await render.timeline(session, posts, urls, viewer_id)


async def feed_facts(session: AsyncSession, post_id: int) -> FeedFacts | None:
    """The author and visibility of a post, and whether it belongs in home timelines
    (None once it is deleted)."""
    return await service.feed_facts(session, post_id)


async def home_posts_of(
    session: AsyncSession, author_ids: Collection[int], page: Page
) -> list[tuple[int, int]]:
    """(post id, author id) of one page of these authors' home-timeline posts, newest
    first, of every visibility: only ask for authors the reader follows or is."""
    return await service.home_posts_of(session, author_ids, page)


async def public_post_ids(
    session: AsyncSession, page: Page, *, only_media: bool = False
) -> list[int]:
    """Ids of one page of public posts (not comments), newest first; render them with
    `render_statuses`, which also drops locked accounts' posts for non-followers."""
    return await service.public_post_ids(session, page, only_media=only_media)


async def authors_of(session: AsyncSession, post_ids: Collection[int]) -> dict[int, int]:
    """{post id: author id} for the posts that still exist."""
    return await service.authors_of(session, post_ids)

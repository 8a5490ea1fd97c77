"""Plain functions other services call; each opens no transaction of its own."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.pagination import Page
from tessera.core.runtime import Links
from tessera.core.storage import Storage
from tessera.posts import render, repository, service, text
from tessera.posts.marks import Marks, ViewerMarks, use_viewer_marks
from tessera.posts.service import FeedFacts, NotificationFacts

__all__ = [
    "BulkPost",
    "FeedFacts",
    "Marks",
    "NotificationFacts",
    "ViewerMarks",
    "account_gallery",
    "add_favourites",
    "authors_of",
    "bulk_insert_posts",
    "comments_of",
    "count_photo_posts",
    "count_posts",
    "create_post",
    "delete_post",
    "feed_facts",
    "home_posts_of",
    "notification_facts",
    "public_post_ids",
    "render_statuses",
    "use_viewer_marks",
    "visible_post_author",
]


async def count_posts(session: AsyncSession) -> int:
    """How many posts and comments exist (instance statistics)."""
    return await service.count_posts(session)


async def count_photo_posts(session: AsyncSession, account_id: int) -> int:
    """How many photo posts (not comments) the account has: what a profile shows as
    its posts; Mastodon's `statuses_count` counts the comments too."""
    return await repository.count_photo_posts(session, account_id)


async def render_statuses(
    session: AsyncSession, viewer_id: int | None, post_ids: Sequence[int], urls: Links
) -> list[dict[str, Any]]:
    """Status entities for these ids, in their order, leaving out the posts that no
    longer exist and those the viewer may not see (the visibility chokepoint)."""
    posts = await service.posts_in_order(session, post_ids)
    return await render.timeline(session, posts, urls, viewer_id)


async def visible_post_author(session: AsyncSession, viewer_id: int | None, post_id: int) -> int:
    """The author of the post, if the viewer may see it; otherwise a 404 (NotFound)."""
    return (await service.visible_post(session, viewer_id, post_id)).account_id


async def add_favourites(session: AsyncSession, post_id: int, delta: int) -> bool:
    """Add `delta` to the post's `favourites_count` in the caller's transaction (the
    interactions service asks, once per like row actually written or deleted); False
    when the post is gone, in which case the caller must give up its change."""
    return await service.add_favourites(session, post_id, delta)


async def feed_facts(session: AsyncSession, post_id: int) -> FeedFacts | None:
    """The author and visibility of a post, and whether it belongs in home timelines
    (None once it is deleted)."""
    return await service.feed_facts(session, post_id)


async def notification_facts(session: AsyncSession, post_id: int) -> NotificationFacts | None:
    """Who a new post or comment notifies (the readers it mentions or answers, never its
    author); None once it is deleted."""
    return await service.notification_facts(session, post_id)


async def home_posts_of(
    session: AsyncSession, author_ids: Collection[int], page: Page
) -> list[tuple[int, int]]:
    """(post id, author id) of one page of these authors' home-timeline posts, newest
    first, of every visibility: only ask for authors the reader follows or is."""
    return await service.home_posts_of(session, author_ids, page)


async def public_post_ids(
    session: AsyncSession, page: Page, *, only_media: bool = False, tagged: str | None = None
) -> list[int]:
    """Ids of one page of public posts (not comments), newest first, with the hashtag
    `tagged` if given; render them with `render_statuses`, which also drops locked
    accounts' posts for non-followers."""
    return await service.public_post_ids(session, page, only_media=only_media, tagged=tagged)


async def authors_of(session: AsyncSession, post_ids: Collection[int]) -> dict[int, int]:
    """{post id: author id} for the posts that still exist."""
    return await service.authors_of(session, post_ids)


# -- the web app ---------------------------------------------------------------------------


async def create_post(
    session: AsyncSession,
    account_id: int,
    app_id: int | None,
    *,
    caption: str,
    media_ids: Sequence[str],
    in_reply_to_id: str | None,
    local_domain: str,
    idempotency_key: str | None = None,
) -> int:
    """`POST /api/v1/statuses`: a post of 1-10 of the account's uploads in this order,
    or (with `in_reply_to_id`) a comment; its id. Every broken rule is named in one 422."""
    post = await service.create_post(
        session,
        account_id=account_id,
        app_id=app_id,
        draft=service.Draft(
            status=caption, media_ids=list(media_ids), in_reply_to_id=in_reply_to_id
        ),
        local_domain=local_domain,
        idempotency_key=idempotency_key,
    )
    return post.id


async def delete_post(
    session: AsyncSession, storage: Storage, account_id: int, post_id: int
) -> int | None:
    """`DELETE /api/v1/statuses/:id`: by its author, or for a comment by the author of
    the post it is under (anyone else: 404). Returns the post a comment answered."""
    post = await service.deletable_post(session, account_id, post_id)
    await service.delete_post(session, storage, post)
    return post.in_reply_to_id


async def comments_of(
    session: AsyncSession, viewer_id: int | None, post_id: int, urls: Links
) -> list[dict[str, Any]]:
    """The comments under a post the viewer may see (404 otherwise), in thread order,
    as `GET /api/v1/statuses/:id/context` gives its descendants."""
    post = await service.visible_post(session, viewer_id, post_id)
    thread = await service.thread(session, viewer_id, post)
    return await render.statuses(session, thread.descendants, urls, viewer_id)


async def account_gallery(
    session: AsyncSession, viewer_id: int | None, account_id: int, page: Page, urls: Links
) -> tuple[list[int], list[dict[str, Any]]]:
    """One page of the account's photo posts (no comments) that the viewer may see: the
    ids read (the page's cursors) and their Status entities; none for a locked account
    the viewer does not follow."""
    found = await service.account_posts(
        session, viewer_id, account_id, page, only_media=True, exclude_replies=True
    )
    return [post.id for post in found], await render.timeline(session, found, urls, viewer_id)


# -- bulk loading (`tessera seed`) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkPost:
    """A public top-level photo post for bulk loading; its photos are loaded through the
    media service with this post's id, and its author's counters by the caller."""

    id: int
    account_id: int
    caption: str
    media_count: int
    created_at: datetime
    language: str | None = "en"


async def bulk_insert_posts(session: AsyncSession, posts: Sequence[BulkPost]) -> None:
    """Insert posts and their hashtags (taken from the captions, as publishing does) in
    executemany batches: no checks, no mentions, no `post.created` event, so no fan-out
    (home feeds are rebuilt on first read)."""
    rows = [
        {
            "id": post.id,
            "account_id": post.account_id,
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "visibility": "public",
            "sensitive": False,
            "spoiler_text": "",
            "language": post.language,
            "caption": post.caption,
            "media_count": post.media_count,
            "application_id": None,
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "created_at": post.created_at,
            "edited_at": None,
        }
        for post in posts
    ]
    tags = [
        {"post_id": post.id, "name": tag} for post in posts for tag in text.hashtags(post.caption)
    ]
    await repository.insert_posts(session, rows, tags)

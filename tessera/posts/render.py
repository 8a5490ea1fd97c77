"""Posts as Mastodon's Status entity, loaded in batch: one query per kind of thing,
whatever the number of posts on the page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, media
from tessera.core.cache import read_through
from tessera.core.db import cache_of, iso
from tessera.core.runtime import Links
from tessera.posts import service, text
from tessera.posts.marks import Marks, viewer_marks
from tessera.posts.models import Post


async def timeline(
    session: AsyncSession, posts: Sequence[Post], urls: Links, viewer_id: int | None
) -> list[dict[str, Any]]:
    """Status entities of the posts the viewer may see, in the order given: the one
    hydration path of every timeline (home, public, profile)."""
    return await statuses(
        session, await service.visible_posts(session, viewer_id, posts), urls, viewer_id
    )


POST_CACHE_SECONDS = 3600
"""How long a post's rendered frame stays cached: what it holds never changes once
published (there is no editing), so nothing has to evict it."""


def post_key(post_id: int) -> str:
    """The cache key of everything cached about one post."""
    return f"post:{post_id}"


async def statuses(
    session: AsyncSession,
    posts: Sequence[Post],
    urls: Links,
    viewer_id: int | None,
    *,
    with_source: bool = False,
) -> list[dict[str, Any]]:
    """Status entities in the order given; `with_source` adds the caption as `text`
    (the answer to a deletion, for delete-and-redraft).

    A Status is a frame that never changes (caption, photos, tags, mentions: cached per
    post) filled with what does: the author (cached per account, evicted on change),
    the counters (from the post rows at hand) and the viewer's own marks."""
    if not posts:
        return []
    post_ids = [post.id for post in posts]
    frames = await _frames(session, posts, urls)
    people = await accounts.render_accounts(session, {post.account_id for post in posts}, urls)
    own_apps = {
        post.application_id
        for post in posts
        if post.account_id == viewer_id and post.application_id is not None
    }
    apps = await accounts.applications(session, own_apps)
    marks = await viewer_marks(session, viewer_id, post_ids) if viewer_id is not None else Marks()
    out = []
    for post in posts:
        author, frame = people.get(post.account_id), frames.get(post.id)
        if author is None or frame is None:
            continue
        body = frame | {
            "account": author,
            "replies_count": post.replies_count,
            "reblogs_count": post.reblogs_count,
            "favourites_count": post.favourites_count,
            "edited_at": iso(post.edited_at) if post.edited_at else None,
        }
        if viewer_id is not None:
            body.update(
                favourited=post.id in marks.favourited,
                reblogged=False,
                muted=False,
                bookmarked=post.id in marks.bookmarked,
                pinned=False,
            )
        if post.account_id == viewer_id and post.application_id in apps:
            body["application"] = apps[post.application_id]
        if with_source:
            body["text"] = post.caption
        out.append(body)
    return out


async def _frames(
    session: AsyncSession, posts: Sequence[Post], urls: Links
) -> dict[int, dict[str, Any]]:
    """The unchanging part of each post's Status, from the cache in one round trip; the
    misses are rendered with one query per kind of thing."""
    by_id = {post.id: post for post in posts}

    async def load(missing: list[int]) -> dict[int, bytes]:
        found = await service.details(session, missing)
        wanted = {by_id[i].account_id for i in missing}
        wanted.update(i for ids in found.mentions.values() for i in ids)
        people = await accounts.render_accounts(session, wanted, urls)
        photos = await media.attachments_of_posts(session, missing, urls)
        local_domain = urlsplit(urls.base).netloc
        frames = {}
        for post_id in missing:
            post = by_id[post_id]
            author = people.get(post.account_id)
            if author is None:
                continue
            mentioned = [people[i] for i in found.mentions.get(post_id, []) if i in people]
            frames[post_id] = orjson.dumps(
                _status(
                    post,
                    author,
                    mentioned,
                    found.tags.get(post_id, []),
                    photos.get(post_id, []),
                    urls,
                    local_domain,
                )
            )
        return frames

    cached = await read_through(
        cache_of(session),
        session,
        list(by_id),
        post_key,
        f"status:{urls.base}",
        POST_CACHE_SECONDS,
        load,
    )
    return {post_id: orjson.loads(frame) for post_id, frame in cached.items()}


def _status(
    post: Post,
    author: dict[str, Any],
    mentioned: list[dict[str, Any]],
    tags: list[str],
    photos: list[dict[str, Any]],
    urls: Links,
    local_domain: str,
) -> dict[str, Any]:
    """A post's frame: its Status without the author entity, counters or viewer marks."""
    links = {
        account["username"].lower(): text.MentionLink(account["username"], account["url"])
        for account in mentioned
    }
    return {
        "id": str(post.id),
        "created_at": iso(post.created_at),
        "in_reply_to_id": str(post.in_reply_to_id) if post.in_reply_to_id else None,
        "in_reply_to_account_id": (
            str(post.in_reply_to_account_id) if post.in_reply_to_account_id else None
        ),
        "sensitive": post.sensitive,
        "spoiler_text": post.spoiler_text,
        "visibility": post.visibility,
        "language": post.language,
        "uri": f"{urls.base}/users/{author['username']}/statuses/{post.id}",
        "url": f"{author['url']}/{post.id}",
        "content": text.caption_html(post.caption, urls.base, local_domain, links),
        "reblog": None,
        "application": None,
        "media_attachments": photos,
        "mentions": [
            {
                "id": account["id"],
                "username": account["username"],
                "url": account["url"],
                "acct": account["acct"],
            }
            for account in mentioned
        ],
        "tags": [{"name": name, "url": f"{urls.base}/tags/{quote(name)}"} for name in tags],
        "emojis": [],
        "card": None,
        "poll": None,
        "filtered": [],
    }

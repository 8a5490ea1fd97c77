"""Posts as Mastodon's Status entity, loaded in batch: one query per kind of thing,
whatever the number of posts on the page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, media
from tessera.core.runtime import Links
from tessera.posts import service, text
from tessera.posts.models import Post


def iso(moment: datetime) -> str:
    """RFC 3339 with milliseconds and `Z`, as Mastodon writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def timeline(
    session: AsyncSession, posts: Sequence[Post], urls: Links, viewer_id: int | None
) -> list[dict[str, Any]]:
    """Status entities of the posts the viewer may see, in the order given: the one
    hydration path of every timeline (home, public, profile)."""
    return await statuses(
        session, await service.visible_posts(session, viewer_id, posts), urls, viewer_id
    )


async def statuses(
    session: AsyncSession,
    posts: Sequence[Post],
    urls: Links,
    viewer_id: int | None,
    *,
    with_source: bool = False,
) -> list[dict[str, Any]]:
    """Status entities in the order given; `with_source` adds the caption as `text`
    (the answer to a deletion, for delete-and-redraft)."""
    if not posts:
        return []
    post_ids = [post.id for post in posts]
    found = await service.details(session, post_ids)
    wanted = {post.account_id for post in posts}
    wanted.update(i for ids in found.mentions.values() for i in ids)
    people = await accounts.render_accounts(session, wanted, urls)
    photos = await media.attachments_of_posts(session, post_ids, urls)
    own_apps = {
        post.application_id
        for post in posts
        if post.account_id == viewer_id and post.application_id is not None
    }
    apps = await accounts.applications(session, own_apps)
    local_domain = urlsplit(urls.base).netloc
    out = []
    for post in posts:
        author = people.get(post.account_id)
        if author is None:
            continue
        mentioned = [people[i] for i in found.mentions.get(post.id, []) if i in people]
        body = _status(
            post,
            author,
            mentioned,
            found.tags.get(post.id, []),
            photos.get(post.id, []),
            urls,
            local_domain,
        )
        if viewer_id is not None:
            body.update(favourited=False, reblogged=False, muted=False, bookmarked=False)
            body["pinned"] = False
        if post.account_id == viewer_id and post.application_id in apps:
            body["application"] = apps[post.application_id]
        if with_source:
            body["text"] = post.caption
        out.append(body)
    return out


def _status(
    post: Post,
    author: dict[str, Any],
    mentioned: list[dict[str, Any]],
    tags: list[str],
    photos: list[dict[str, Any]],
    urls: Links,
    local_domain: str,
) -> dict[str, Any]:
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
        "replies_count": post.replies_count,
        "reblogs_count": post.reblogs_count,
        "favourites_count": post.favourites_count,
        "edited_at": iso(post.edited_at) if post.edited_at else None,
        "content": text.caption_html(post.caption, urls.base, local_domain, links),
        "reblog": None,
        "application": None,
        "account": author,
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

"""The posts service's rules: who may see a post, what a post may hold, create, delete.

Every read of a post goes through `visible_post` or `audience`: private posts, and all
posts of locked accounts, are for the author and approved followers only, and a post
the viewer may not see is a 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, media
from tessera.core.db import after_commit, utcnow
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.ids import new_id
from tessera.core.outbox import emit
from tessera.core.pagination import Page
from tessera.core.params import is_id, parse_id
from tessera.core.security import hash_secret
from tessera.core.storage import Storage
from tessera.posts import repository, text
from tessera.posts.models import CAPTION_MAX, SPOILER_MAX, Post

__all__ = [
    "MEDIA_MAX",
    "VISIBILITIES",
    "Draft",
    "FeedFacts",
    "NotificationFacts",
    "Thread",
    "account_posts",
    "add_favourites",
    "audience",
    "authors_of",
    "create_post",
    "deletable_post",
    "delete_post",
    "feed_facts",
    "home_posts_of",
    "notification_facts",
    "posts_in_order",
    "public_post_ids",
    "thread",
    "visible_post",
    "visible_posts",
]

MEDIA_MAX = 10
MENTIONS_MAX = 50
VISIBILITIES = ("public", "unlisted", "private")
EVERYONE = frozenset({"public", "unlisted"})
"""What anyone may read of an unlocked account (unlisted only stays off public lists)."""
IDEMPOTENCY_WINDOW = timedelta(hours=1)
ANCESTORS_MAX = 40
ROOT_SEARCH_MAX = 200
"""How far up a comment's thread deletion looks for the post it belongs to."""

FieldErrors = dict[str, list[tuple[str, str]]]


# -- visibility: the one chokepoint --------------------------------------------------------


async def audience(
    session: AsyncSession, viewer_id: int | None, author_ids: Iterable[int]
) -> dict[int, frozenset[str]]:
    """For each author, the visibilities of their posts the viewer may read."""
    authors = set(author_ids)
    locked = await accounts.locked_among(session, authors)
    restricted = {a for a in authors if a != viewer_id}
    followed = (
        await accounts.followed_among(session, viewer_id, restricted)
        if viewer_id is not None and restricted
        else set()
    )
    everything = frozenset(VISIBILITIES)
    out: dict[int, frozenset[str]] = {}
    for author in authors:
        if author == viewer_id or author in followed:
            out[author] = everything
        elif author in locked:
            out[author] = frozenset()
        else:
            out[author] = EVERYONE
    return out


async def visible_posts(
    session: AsyncSession, viewer_id: int | None, posts: Sequence[Post]
) -> list[Post]:
    """The posts the viewer may see, in the given order."""
    allowed = await audience(session, viewer_id, {post.account_id for post in posts})
    return [post for post in posts if post.visibility in allowed[post.account_id]]


async def visible_post(session: AsyncSession, viewer_id: int | None, post_id: int) -> Post:
    """The post, if the viewer may see it; otherwise a 404."""
    post = await repository.get(session, post_id)
    if post is None or not await visible_posts(session, viewer_id, [post]):
        raise NotFound()
    return post


async def account_posts(
    session: AsyncSession,
    viewer_id: int | None,
    account_id: int,
    page: Page,
    *,
    only_media: bool = False,
    exclude_replies: bool = False,
    tagged: str | None = None,
) -> Sequence[Post]:
    """A page of the account's posts that the viewer may see (the profile grid)."""
    allowed = (await audience(session, viewer_id, [account_id]))[account_id]
    if not allowed:
        return []
    return await repository.account_posts(
        session,
        account_id,
        visibilities=allowed,
        page=page,
        only_media=only_media,
        exclude_replies=exclude_replies,
        tagged=tagged,
    )


# -- threads (comments) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bounds:
    """How much of a thread `GET /api/v1/statuses/:id/context` shows (Mastodon shows
    anonymous readers 60 descendants, 20 levels deep)."""

    descendants: int
    depth: int


ANONYMOUS_BOUNDS = Bounds(descendants=60, depth=20)
USER_BOUNDS = Bounds(descendants=400, depth=40)


@dataclass(frozen=True, slots=True)
class Thread:
    ancestors: list[Post]
    """Root first, up to the post's parent."""
    descendants: list[Post]
    """In thread order: each reply right after its parent, siblings oldest first."""


async def thread(session: AsyncSession, viewer_id: int | None, post: Post) -> Thread:
    """What is above and below a post the viewer may see, leaving out the posts they may
    not. The cost is bounded whatever the size of the thread: one query up, one per
    level down (each reading at most what is still to show), one visibility check."""
    bounds = ANONYMOUS_BOUNDS if viewer_id is None else USER_BOUNDS
    above = (
        await repository.ancestors(session, post.in_reply_to_id, ANCESTORS_MAX)
        if post.in_reply_to_id is not None
        else []
    )
    below = await _descendants(session, post.id, bounds)
    shown = {p.id for p in await visible_posts(session, viewer_id, [*above, *below])}
    return Thread([p for p in above if p.id in shown], [p for p in below if p.id in shown])


async def _descendants(session: AsyncSession, post_id: int, bounds: Bounds) -> list[Post]:
    """Read level by level, the oldest replies first, until the bounds; then order the
    tree depth-first, as Mastodon does."""
    children: dict[int, list[Post]] = {}
    frontier, read = [post_id], 0
    for _ in range(bounds.depth):
        if not frontier or read >= bounds.descendants:
            break
        level = await repository.replies_to(session, frontier, bounds.descendants - read)
        for reply in level:
            if reply.in_reply_to_id is not None:  # always, for a reply
                children.setdefault(reply.in_reply_to_id, []).append(reply)
        read += len(level)
        frontier = [reply.id for reply in level]
    ordered: list[Post] = []
    stack = children.get(post_id, [])[::-1]
    while stack:
        reply = stack.pop()
        ordered.append(reply)
        stack.extend(children.get(reply.id, [])[::-1])
    return ordered


async def deletable_post(session: AsyncSession, account_id: int, post_id: int) -> Post:
    """The post if the account may delete it: its author may, and so may the author of
    the post a comment's thread hangs from (they moderate the comments under their
    photo). Anyone else gets a 404, as Mastodon answers for others' statuses."""
    post = await repository.get(session, post_id)
    if post is None:
        raise NotFound()
    if post.account_id == account_id:
        return post
    if post.in_reply_to_id is not None:
        above = await repository.ancestors(session, post.in_reply_to_id, ROOT_SEARCH_MAX)
        root = above[0] if above else None
        if root is not None and root.in_reply_to_id is None and root.account_id == account_id:
            return post
    raise NotFound()


# -- timelines ----------------------------------------------------------------------------


async def posts_in_order(session: AsyncSession, post_ids: Sequence[int]) -> list[Post]:
    """The posts that still exist, in the order of `post_ids` (not yet checked for
    visibility: pass them to `visible_posts`)."""
    found = await repository.posts_by_ids(session, set(post_ids))
    return [found[post_id] for post_id in post_ids if post_id in found]


@dataclass(frozen=True, slots=True)
class FeedFacts:
    """What the feed needs to know of a new post to decide where it goes."""

    author_id: int
    visibility: str
    for_home: bool
    """Top-level posts go to home timelines; comments stay under their post."""


async def feed_facts(session: AsyncSession, post_id: int) -> FeedFacts | None:
    post = await repository.get(session, post_id)
    if post is None:
        return None
    return FeedFacts(post.account_id, post.visibility, post.in_reply_to_id is None)


@dataclass(frozen=True, slots=True)
class NotificationFacts:
    """Who a new post or comment notifies (`mention`): the accounts it names and, for a
    comment, the author of the post it answers, among those who may read it, never its
    own author."""

    author_id: int
    recipient_ids: tuple[int, ...]


async def notification_facts(session: AsyncSession, post_id: int) -> NotificationFacts | None:
    post = await repository.get(session, post_id)
    if post is None:
        return None
    named = set((await repository.mentions_of(session, [post.id])).get(post.id, []))
    if post.in_reply_to_account_id is not None:
        named.add(post.in_reply_to_account_id)
    named.discard(post.account_id)
    readers = []
    for reader in sorted(named):  # at most MENTIONS_MAX + 1, each through the chokepoint
        allowed = await audience(session, reader, [post.account_id])
        if post.visibility in allowed[post.account_id]:
            readers.append(reader)
    return NotificationFacts(post.account_id, tuple(readers))


async def home_posts_of(
    session: AsyncSession, author_ids: Collection[int], page: Page
) -> list[tuple[int, int]]:
    """(post id, author id) of a page of the posts of these authors that belong in home
    timelines, whatever their visibility: the caller follows them (or is them)."""
    return await repository.top_level_posts_of(session, author_ids, page)


async def public_post_ids(
    session: AsyncSession, page: Page, *, only_media: bool, tagged: str | None = None
) -> list[int]:
    return await repository.public_post_ids(session, page, only_media=only_media, tagged=tagged)


async def authors_of(session: AsyncSession, post_ids: Collection[int]) -> dict[int, int]:
    return await repository.authors_of(session, post_ids)


# -- details for rendering ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Details:
    tags: dict[int, list[str]]
    mentions: dict[int, list[int]]


async def details(session: AsyncSession, post_ids: Collection[int]) -> Details:
    """Hashtags and mentioned account ids of these posts, in one query each."""
    return Details(
        await repository.tags_of(session, post_ids),
        await repository.mentions_of(session, post_ids),
    )


async def count_posts(session: AsyncSession) -> int:
    return await repository.count_posts(session)


async def account_exists(session: AsyncSession, account_id: int) -> bool:
    return await accounts.account_exists(session, account_id)


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """`POST /api/v1/statuses` as the client sent it (None: not sent)."""

    status: str = ""
    media_ids: list[str] = field(default_factory=list)
    in_reply_to_id: str | None = None
    sensitive: bool | None = None
    spoiler_text: str | None = None
    visibility: str | None = None
    language: str | None = None


def check_draft(draft: Draft) -> list[int]:
    """Every rule a post's fields must meet on their own; returns the media ids.

    All broken rules are named at once in one 422.
    """
    errors: FieldErrors = {}
    comment = draft.in_reply_to_id is not None
    if len(draft.status) > CAPTION_MAX:
        errors["status"] = [("ERR_TOO_LONG", f"is too long (maximum is {CAPTION_MAX} characters)")]
    elif comment and not draft.status.strip():
        errors["status"] = [("ERR_BLANK", "can't be blank")]
    if draft.spoiler_text is not None and len(draft.spoiler_text) > SPOILER_MAX:
        errors["spoiler_text"] = [
            ("ERR_TOO_LONG", f"is too long (maximum is {SPOILER_MAX} characters)")
        ]
    if draft.visibility == "direct":
        errors["visibility"] = [("ERR_UNSUPPORTED", "direct is not supported on this server")]
    elif draft.visibility is not None and draft.visibility not in VISIBILITIES:
        errors["visibility"] = [("ERR_INCLUSION", f"must be one of {', '.join(VISIBILITIES)}")]
    if draft.language is not None and len(draft.language) > 8:
        errors["language"] = [("ERR_INVALID", "is not a language code")]
    media_errors: list[tuple[str, str]] = []
    ids = [int(raw) for raw in draft.media_ids if is_id(raw)]
    if len(ids) < len(draft.media_ids):
        media_errors.append(("ERR_INVALID", "must be media ids"))
    if len(set(ids)) < len(ids):
        media_errors.append(("ERR_INVALID", "name the same photo twice"))
    if len(draft.media_ids) > MEDIA_MAX:
        media_errors.append(("ERR_TOO_LONG", f"are too many (maximum is {MEDIA_MAX} photos)"))
    if comment and draft.media_ids:
        media_errors.append(("ERR_INVALID", "must be empty: a comment carries no photos"))
    if not comment and not draft.media_ids:
        media_errors.append(("ERR_BLANK", "can't be blank: a post needs 1 to 10 photos"))
    if media_errors:
        errors["media_ids"] = media_errors
    if errors:
        raise ValidationFailed(errors)
    return ids


async def _replayed(session: AsyncSession, account_id: int, key_hash: str) -> Post | None:
    """The post an earlier request with this key made within the hour, if any.

    A key that expired, or whose post is gone, is deleted so that it may be used again.
    """
    row = await repository.idempotency_key(session, account_id, key_hash)
    if row is None:
        return None
    post = await repository.get(session, row.post_id)
    if post is None or row.created_at < utcnow() - IDEMPOTENCY_WINDOW:
        await repository.delete_idempotency_key(session, row.id)
        return None
    return post


async def create_post(
    session: AsyncSession,
    *,
    account_id: int,
    app_id: int | None,
    draft: Draft,
    local_domain: str,
    idempotency_key: str | None = None,
) -> Post:
    """Check and write a post or comment, with its counters and its `post.created` event.

    With an idempotency key the account used in the last hour, the earlier post is
    returned instead and nothing is written.
    """
    key_hash = hash_secret(idempotency_key) if idempotency_key else None
    if key_hash is not None:
        earlier = await _replayed(session, account_id, key_hash)
        if earlier is not None:
            return earlier
    media_ids = check_draft(draft)
    parent = None
    if draft.in_reply_to_id is not None:
        parent = await visible_post(session, account_id, parse_id(draft.in_reply_to_id))
    defaults = await accounts.posting_defaults(session, account_id)
    now = utcnow()
    post_id = new_id(account_id)
    if key_hash is not None:
        try:
            await repository.add_idempotency_key(
                session, new_id(account_id), account_id, key_hash, post_id, now
            )
        except IntegrityError:
            # A concurrent request with the same key won (and has committed).
            earlier = await _replayed(session, account_id, key_hash)
            if earlier is None:
                raise
            return earlier
    post = Post(
        id=post_id,
        account_id=account_id,
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_account_id=parent.account_id if parent else None,
        visibility=draft.visibility or defaults.visibility,
        sensitive=defaults.sensitive if draft.sensitive is None else draft.sensitive,
        spoiler_text=draft.spoiler_text or "",
        language=draft.language or defaults.language,
        caption=draft.status,
        media_count=len(media_ids),
        application_id=app_id,
        created_at=now,
    )
    session.add(post)
    await session.flush()
    if media_ids:
        await media.attach_to_post(session, account_id, post.id, media_ids)
    names = text.mentioned_usernames(draft.status, local_domain)[:MENTIONS_MAX]
    mentioned = await accounts.ids_by_username(session, names)
    await repository.add_details(
        session, post.id, text.hashtags(draft.status), sorted(set(mentioned.values()))
    )
    if parent is not None and not await repository.bump_replies(session, parent.id, 1):
        raise NotFound()  # deleted since it was read: the comment goes too
    await accounts.record_post(session, account_id, 1, now)
    emit(session, "post.created", _event(post))
    await session.flush()
    return post


async def add_favourites(session: AsyncSession, post_id: int, delta: int) -> bool:
    """Add `delta` to the post's exact `favourites_count`; False when the post is gone."""
    return await repository.bump_favourites(session, post_id, delta)


async def delete_post(session: AsyncSession, storage: Storage, post: Post) -> None:
    """Delete a post, its photos, counters and details, and emit `post.deleted`.

    Stored files go after the commit, and only those no other row still names (keys
    are content-addressed, so one file may back several uploads or an avatar).
    """
    orphans = await media.delete_post_media(session, post.id)
    orphans -= await accounts.profile_keys_in_use(session, orphans)
    await repository.delete_post(session, post.id)
    if post.in_reply_to_id is not None:
        await repository.bump_replies(session, post.in_reply_to_id, -1)
    await accounts.record_post(session, post.account_id, -1)
    emit(session, "post.deleted", _event(post))
    if orphans:
        after_commit(session, partial(storage.delete, *sorted(orphans)))


def _event(post: Post) -> dict[str, object]:
    return {"post_id": post.id, "account_id": post.account_id, "visibility": post.visibility}

"""All SQL of the posts service."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from tessera.core.pagination import Page, newest_first, within
from tessera.posts.models import IdempotencyKey, Post, PostMention, PostTag


async def get(session: AsyncSession, post_id: int) -> Post | None:
    return await session.get(Post, post_id)


async def count_posts(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(Post))) or 0


async def count_photo_posts(session: AsyncSession, account_id: int) -> int:
    query = select(func.count()).where(Post.account_id == account_id, Post.in_reply_to_id.is_(None))
    return (await session.scalar(query)) or 0


async def add_details(
    session: AsyncSession, post_id: int, tags: Iterable[str], mentioned: Iterable[int]
) -> None:
    session.add_all(PostTag(post_id=post_id, name=name) for name in tags)
    session.add_all(PostMention(post_id=post_id, account_id=other) for other in mentioned)


async def tags_of(session: AsyncSession, post_ids: Collection[int]) -> dict[int, list[str]]:
    if not post_ids:
        return {}
    rows = await session.execute(
        select(PostTag.post_id, PostTag.name)
        .where(PostTag.post_id.in_(post_ids))
        .order_by(PostTag.post_id, PostTag.name)
    )
    out: dict[int, list[str]] = {}
    for post_id, name in rows:
        out.setdefault(post_id, []).append(name)
    return out


async def mentions_of(session: AsyncSession, post_ids: Collection[int]) -> dict[int, list[int]]:
    if not post_ids:
        return {}
    rows = await session.execute(
        select(PostMention.post_id, PostMention.account_id).where(PostMention.post_id.in_(post_ids))
    )
    out: dict[int, list[int]] = {}
    for post_id, account_id in rows:
        out.setdefault(post_id, []).append(account_id)
    return out


async def bump_replies(session: AsyncSession, post_id: int, delta: int) -> bool:
    return await _bump(session, post_id, Post.replies_count, delta)


async def bump_favourites(session: AsyncSession, post_id: int, delta: int) -> bool:
    return await _bump(session, post_id, Post.favourites_count, delta)


async def _bump(
    session: AsyncSession, post_id: int, counter: InstrumentedAttribute[int], delta: int
) -> bool:
    """Add `delta` to a counter in the database (exact under concurrency: the row is
    locked until the transaction ends); False when the post is gone.

    The new value is also set on the post this session may hold, so that rendering it
    later in the transaction shows the count just written.
    """
    count = await session.scalar(
        update(Post)
        .where(Post.id == post_id)
        .values({counter: counter + delta})
        .returning(counter)
        .execution_options(synchronize_session=False)
    )
    if count is None:
        return False
    held = session.identity_map.get(identity_key(Post, post_id))
    if held is not None:
        set_committed_value(held, counter.key, count)
    return True


async def delete_post(session: AsyncSession, post_id: int) -> None:
    """The post and everything of it this service holds."""
    for model in (PostTag, PostMention):
        await session.execute(
            delete(model)
            .where(model.post_id == post_id)
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.post_id == post_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Post).where(Post.id == post_id).execution_options(synchronize_session=False)
    )


async def account_posts(
    session: AsyncSession,
    account_id: int,
    *,
    visibilities: Collection[str],
    page: Page,
    only_media: bool,
    exclude_replies: bool,
    tagged: str | None,
) -> Sequence[Post]:
    """One page of an account's posts, newest first, of the given visibilities."""
    statement = select(Post).where(Post.account_id == account_id, Post.visibility.in_(visibilities))
    if only_media:
        statement = statement.where(Post.media_count > 0)
    if exclude_replies:
        # Mastodon keeps an author's replies to themselves (threads).
        statement = statement.where(
            or_(Post.in_reply_to_id.is_(None), Post.in_reply_to_account_id == account_id)
        )
    if tagged is not None:
        statement = statement.where(
            Post.id.in_(select(PostTag.post_id).where(PostTag.name == tagged.lower()))
        )
    rows = (await session.scalars(within(statement, Post.id, page))).all()
    return newest_first(rows, page)


async def ancestors(session: AsyncSession, post_id: int, limit: int) -> list[Post]:
    """The post and up to `limit - 1` posts above it, root first: one recursive query."""
    up = (
        select(Post.id, Post.in_reply_to_id, literal(1).label("depth"))
        .where(Post.id == post_id)
        .cte("up", recursive=True)
    )
    up = up.union_all(
        select(Post.id, Post.in_reply_to_id, up.c.depth + 1)
        .join(up, Post.id == up.c.in_reply_to_id)
        .where(up.c.depth < limit)
    )
    rows = await session.scalars(
        select(Post).join(up, Post.id == up.c.id).order_by(up.c.depth.desc())
    )
    return list(rows)


async def replies_to(session: AsyncSession, post_ids: Collection[int], limit: int) -> list[Post]:
    """The oldest `limit` direct replies to any of these posts, oldest first."""
    if not post_ids:
        return []
    statement = select(Post).where(Post.in_reply_to_id.in_(post_ids)).order_by(Post.id).limit(limit)
    return list(await session.scalars(statement))


async def posts_by_ids(session: AsyncSession, post_ids: Collection[int]) -> dict[int, Post]:
    if not post_ids:
        return {}
    rows = await session.scalars(select(Post).where(Post.id.in_(post_ids)))
    return {post.id: post for post in rows}


async def top_level_posts_of(
    session: AsyncSession, author_ids: Collection[int], page: Page
) -> list[tuple[int, int]]:
    """(post id, author id) of one page of these authors' posts (not comments), newest
    first, whatever their visibility."""
    if not author_ids:
        return []
    statement = select(Post.id, Post.account_id).where(
        Post.account_id.in_(author_ids), Post.in_reply_to_id.is_(None)
    )
    rows = [(row[0], row[1]) for row in await session.execute(within(statement, Post.id, page))]
    return newest_first(rows, page)


async def public_post_ids(
    session: AsyncSession, page: Page, *, only_media: bool, tagged: str | None = None
) -> list[int]:
    """One page of public posts (not comments), newest first; with `tagged`, only those
    with that hashtag (lower-cased), read through the tag index."""
    statement = select(Post.id).where(Post.visibility == "public", Post.in_reply_to_id.is_(None))
    if only_media:
        statement = statement.where(Post.media_count > 0)
    if tagged is not None:
        statement = statement.where(
            Post.id.in_(select(PostTag.post_id).where(PostTag.name == tagged.lower()))
        )
    return newest_first(list(await session.scalars(within(statement, Post.id, page))), page)


async def authors_of(session: AsyncSession, post_ids: Collection[int]) -> dict[int, int]:
    if not post_ids:
        return {}
    rows = await session.execute(select(Post.id, Post.account_id).where(Post.id.in_(post_ids)))
    return {row[0]: row[1] for row in rows}


# -- idempotency keys --------------------------------------------------------------------


async def idempotency_key(
    session: AsyncSession, account_id: int, key_hash: str
) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key_hash == key_hash
        )
    )


async def delete_idempotency_key(session: AsyncSession, key_id: int) -> None:
    await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id == key_id)
        .execution_options(synchronize_session=False)
    )


async def add_idempotency_key(
    session: AsyncSession, key_id: int, account_id: int, key_hash: str, post_id: int, at: datetime
) -> None:
    """Insert the key in a savepoint; raises IntegrityError when the account used it already."""
    async with session.begin_nested():
        session.add(
            IdempotencyKey(
                id=key_id, account_id=account_id, key_hash=key_hash, post_id=post_id, created_at=at
            )
        )
        await session.flush()


async def insert_posts(
    session: AsyncSession, posts: Sequence[dict[str, Any]], tags: Sequence[dict[str, Any]]
) -> None:
    """Multi-row INSERTs (executemany) of complete post rows and their tags: bulk loading."""
    if posts:
        await session.execute(insert(cast(Table, Post.__table__)), list(posts))
    if tags:
        await session.execute(insert(cast(Table, PostTag.__table__)), list(tags))

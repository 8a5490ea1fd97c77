"""The feed service's rules: hybrid fan-out into home feeds, and home timeline reads.

An author with at most `TESSERA_FANOUT_THRESHOLD` followers has each post pushed into
the feed of each follower; the posts of "celebrities" (more followers) and the reader's
own posts are fetched when a timeline is read and merged with the feed by id. Followers
are approved by definition, so private posts reach only them. Every handler re-reads the
current state (the follow graph, the post) and may run twice with the same outcome.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, posts
from tessera.core.db import after_commit
from tessera.core.observability import FANOUT_FEEDS, FANOUT_SECONDS
from tessera.core.pagination import Page
from tessera.core.replica import primary_reads
from tessera.core.runtime import Runtime
from tessera.core.streaming import Hub, user_channel
from tessera.feed.stores import FeedStore, RedisFeedStore, SqlFeedStore

__all__ = [
    "BACKFILL",
    "Feeds",
    "backfill",
    "fan_out",
    "feeds_of",
    "home_ids",
    "public_ids",
    "remove_author",
    "remove_post",
]

BACKFILL = 40
"""Recent posts of a newly followed account copied into the follower's feed."""


@dataclass(frozen=True, slots=True)
class Feeds:
    store: FeedStore
    threshold: int
    size: int
    streams: Hub
    """Live `update` and `delete` events for the readers' streaming clients."""


def _announce(
    session: AsyncSession, feeds: Feeds, readers: Sequence[int], event: str, post_id: int
) -> None:
    """Tell the readers' live streams once the feed writes have committed (the stream
    renders the post for each reader, so visibility is checked there)."""
    channels = [user_channel(reader) for reader in readers]
    after_commit(session, partial(feeds.streams.publish, channels, event, str(post_id)))


async def _is_celebrity(session: AsyncSession, feeds: Feeds, account_id: int) -> bool:
    return await accounts.followers_count(session, account_id) > feeds.threshold


async def fan_out(session: AsyncSession, feeds: Feeds, post_id: int) -> None:
    """Push a new post into its author's followers' feeds (unless a celebrity's)."""
    started = time.perf_counter()
    facts = await posts.feed_facts(session, post_id)
    if facts is None or not facts.for_home:
        return
    followers: list[int] = []
    if not await _is_celebrity(session, feeds, facts.author_id):
        followers = await accounts.follower_ids(session, facts.author_id)
    if len(followers) > feeds.threshold:
        followers = []  # became a celebrity between the two reads: merged at read time
    await feeds.store.add(session, followers, post_id, facts.author_id)
    FANOUT_SECONDS.observe(time.perf_counter() - started)
    FANOUT_FEEDS.inc(len(followers))
    _announce(session, feeds, [facts.author_id, *followers], "update", post_id)


async def backfill(session: AsyncSession, feeds: Feeds, follower_id: int, target_id: int) -> None:
    """A follow began: copy the target's recent posts into the follower's feed."""
    if not await accounts.followed_among(session, follower_id, [target_id]):
        return  # unfollowed since; that event removes whatever is there
    if await _is_celebrity(session, feeds, target_id):
        return
    recent = await posts.home_posts_of(session, [target_id], Page(None, None, None, BACKFILL))
    await feeds.store.add_entries(session, follower_id, recent)


async def remove_author(
    session: AsyncSession, feeds: Feeds, follower_id: int, target_id: int
) -> None:
    """A follow ended: take the target's posts out of the follower's feed."""
    if await accounts.followed_among(session, follower_id, [target_id]):
        return  # followed again since
    await feeds.store.remove_author(session, follower_id, target_id)


async def remove_post(session: AsyncSession, feeds: Feeds, post_id: int, author_id: int) -> None:
    """A post was deleted: take it out of every feed holding it."""
    followers = await accounts.follower_ids(session, author_id)
    await feeds.store.remove_post(session, post_id, followers)
    _announce(session, feeds, [author_id, *followers], "delete", post_id)


async def rebuild(session: AsyncSession, feeds: Feeds, account_id: int) -> None:
    """Fill a missing feed from the database: the newest posts of the followed accounts
    that are fanned out to (celebrities are merged at read time anyway). Read from the
    primary: what a lagging replica has not seen yet would be missing for good."""
    primary_reads(session)
    followed = await accounts.followed_ids(session, account_id)
    celebrities = set(
        await accounts.followed_ids(session, account_id, more_followers_than=feeds.threshold)
    )
    authors = [author for author in followed if author not in celebrities]
    entries = await posts.home_posts_of(session, authors, Page(None, None, None, feeds.size))
    await feeds.store.rebuild(session, account_id, entries)


async def home_ids(session: AsyncSession, feeds: Feeds, account_id: int, page: Page) -> list[int]:
    """One page of the home timeline's post ids, newest first (not yet checked for
    visibility: the posts service's rendering does that)."""
    stored = await feeds.store.page(session, account_id, page)
    if stored is None:
        await rebuild(session, feeds, account_id)
        stored = await feeds.store.page(session, account_id, page) or []
    celebrities = await accounts.followed_ids(
        session, account_id, more_followers_than=feeds.threshold
    )
    pulled = await posts.home_posts_of(session, [account_id, *celebrities], page)
    merged = sorted({*stored, *(post_id for post_id, _ in pulled)}, reverse=not page.ascending)
    chosen = merged[: page.limit]
    return chosen[::-1] if page.ascending else chosen


async def public_ids(session: AsyncSession, page: Page, *, only_media: bool) -> list[int]:
    return await posts.public_post_ids(session, page, only_media=only_media)


def feeds_of(runtime: Runtime) -> Feeds:
    """The runtime's feed store (Redis when configured, else SQL) and feed settings."""
    settings = runtime.settings
    store: FeedStore
    if runtime.redis is not None:
        store = RedisFeedStore(runtime.redis, settings.redis_prefix, settings.feed_size)
    else:
        store = SqlFeedStore(settings.feed_size)
    return Feeds(store, settings.fanout_threshold, settings.feed_size, runtime.streams)

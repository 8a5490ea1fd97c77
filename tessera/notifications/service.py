"""The notifications service's rules: which events notify whom, reading and dismissing
notifications, and read markers.

Notifications are made by event handlers, never inside the request that caused them,
and removed when their cause is undone (an unlike, an unfollow, a deleted comment).
Each handler re-reads the current state before it writes, so a late or repeated event
cannot bring back what a newer one undid, and the unique key on a notification's cause
makes a redelivered event create nothing. Nobody is notified of their own actions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, interactions, posts
from tessera.core.db import utcnow
from tessera.core.errors import Conflict, NotFound
from tessera.core.ids import new_id
from tessera.core.pagination import Page
from tessera.notifications import repository
from tessera.notifications.models import TIMELINES, Marker, Notification
from tessera.notifications.repository import Cause, Filters

__all__ = [
    "UNREAD_CAP",
    "Cause",
    "Created",
    "Filters",
    "MarkerState",
    "clear",
    "dismiss",
    "favourited",
    "follow_requested",
    "followed",
    "get",
    "markers",
    "mentioned",
    "notify",
    "page",
    "post_deleted",
    "retract",
    "save_markers",
    "unfavourited",
    "unfollowed",
    "unread_count",
    "unrequested",
]

UNREAD_CAP = 1000
"""The most `unread_count` counts (Mastodon's ceiling)."""


@dataclass(frozen=True, slots=True)
class Created:
    """A notification just written (what live delivery and push need)."""

    id: int
    account_id: int
    """The recipient."""
    type: str
    from_account_id: int
    status_id: int | None


async def notify(session: AsyncSession, causes: Sequence[Cause]) -> list[Created]:
    """Write a notification for each cause not yet notified (never one's own action)."""
    wanted = [cause for cause in causes if cause.account_id != cause.from_account_id]
    rows = [(new_id(cause.account_id), cause) for cause in wanted]
    made = set(await repository.add(session, rows, utcnow()))
    return [
        Created(i, cause.account_id, cause.type, cause.from_account_id, cause.status_id)
        for i, cause in rows
        if i in made
    ]


async def retract(session: AsyncSession, cause: Cause) -> None:
    """The cause was undone: its notification goes."""
    await repository.remove(session, cause)


# -- what each event means ---------------------------------------------------------------


async def favourited(
    session: AsyncSession, account_id: int, post_id: int, author_id: int
) -> list[Created]:
    """A like: `favourite` for the post's author, while the like still stands."""
    marks = await interactions.viewer_marks(session, account_id, [post_id])
    if post_id not in marks.favourited:
        return []  # unliked since (or the post is gone)
    return await notify(session, [Cause(author_id, "favourite", account_id, post_id)])


async def unfavourited(
    session: AsyncSession, account_id: int, post_id: int, author_id: int
) -> None:
    marks = await interactions.viewer_marks(session, account_id, [post_id])
    if post_id in marks.favourited:
        return  # liked again since
    await retract(session, Cause(author_id, "favourite", account_id, post_id))


async def mentioned(session: AsyncSession, post_id: int) -> list[Created]:
    """A post or comment was published: a `mention` for each reader it names or answers."""
    facts = await posts.notification_facts(session, post_id)
    if facts is None:
        return []  # deleted since
    return await notify(
        session,
        [Cause(reader, "mention", facts.author_id, post_id) for reader in facts.recipient_ids],
    )


async def post_deleted(session: AsyncSession, post_id: int) -> None:
    """Whatever pointed at a deleted post or comment (likes of it, its mentions) goes."""
    await repository.remove_of_status(session, post_id)


async def followed(
    session: AsyncSession, follower_id: int, target_id: int, *, approved: bool
) -> list[Created]:
    """A follow began: `follow` for the target, unless the target just approved it."""
    if approved or not await accounts.followed_among(session, follower_id, [target_id]):
        return []
    return await notify(session, [Cause(target_id, "follow", follower_id)])


async def unfollowed(session: AsyncSession, follower_id: int, target_id: int) -> None:
    if await accounts.followed_among(session, follower_id, [target_id]):
        return  # followed again since
    await retract(session, Cause(target_id, "follow", follower_id))


async def follow_requested(
    session: AsyncSession, follower_id: int, target_id: int
) -> list[Created]:
    if not await accounts.follow_requested(session, follower_id, target_id):
        return []  # answered or withdrawn since
    return await notify(session, [Cause(target_id, "follow_request", follower_id)])


async def unrequested(session: AsyncSession, follower_id: int, target_id: int) -> None:
    """A request was authorized, rejected or withdrawn: its notification goes."""
    if await accounts.follow_requested(session, follower_id, target_id):
        return  # asked again since
    await retract(session, Cause(target_id, "follow_request", follower_id))


# -- reading and dismissing --------------------------------------------------------------


async def page(
    session: AsyncSession, account_id: int, filters: Filters, page: Page
) -> list[Notification]:
    return await repository.page(session, account_id, filters, page)


async def get(session: AsyncSession, account_id: int, notification_id: int) -> Notification:
    """One of the account's notifications; anyone else's is a 404."""
    found = await repository.by_ids(session, account_id, [notification_id])
    if not found:
        raise NotFound()
    return found[0]


async def dismiss(session: AsyncSession, account_id: int, notification_id: int) -> None:
    if not await repository.delete_one(session, account_id, notification_id):
        raise NotFound()


async def clear(session: AsyncSession, account_id: int) -> None:
    await repository.delete_all(session, account_id)


async def unread_count(session: AsyncSession, account_id: int, filters: Filters, cap: int) -> int:
    """Notifications newer than the `notifications` marker, counting at most `cap`."""
    found = await repository.markers(session, account_id, ["notifications"])
    after = found[0].last_read_id if found else 0
    return await repository.count_newer(session, account_id, after, filters, cap)


# -- markers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkerState:
    last_read_id: int
    version: int
    updated_at: datetime


def _state(marker: Marker) -> MarkerState:
    return MarkerState(marker.last_read_id, marker.version, marker.updated_at)


async def markers(
    session: AsyncSession, account_id: int, timelines: Collection[str]
) -> dict[str, MarkerState]:
    """The saved markers among `timelines` (unknown names are ignored)."""
    wanted = [t for t in timelines if t in TIMELINES]
    return {m.timeline: _state(m) for m in await repository.markers(session, account_id, wanted)}


async def save_markers(
    session: AsyncSession, account_id: int, positions: dict[str, int]
) -> dict[str, MarkerState]:
    """Move the markers to these ids; a save that raced another one is a 409."""
    current = await markers(session, account_id, positions)
    now = utcnow()
    saved: dict[str, MarkerState] = {}
    for timeline, last_read_id in positions.items():
        before = current.get(timeline)
        if before is None:
            written = await repository.insert_marker(
                session, account_id, timeline, last_read_id, now
            )
            version = 1
        else:
            written = await repository.advance_marker(
                session, account_id, timeline, before.version, last_read_id, now
            )
            version = before.version + 1
        if not written:
            raise Conflict("Conflict during update, please try again")
        saved[timeline] = MarkerState(last_read_id, version, now)
    return saved

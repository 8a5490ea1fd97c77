"""What the app factory and the streaming gateway call."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.errors import Conflict
from tessera.core.pagination import Page
from tessera.core.runtime import Links
from tessera.notifications import render, repository, service
from tessera.notifications.handlers import GROUP, CreatedHook, on_created, subscribe_handlers
from tessera.notifications.push import WebPush, start_web_push
from tessera.notifications.repository import Filters
from tessera.notifications.service import Created

__all__ = [
    "GROUP",
    "Created",
    "CreatedHook",
    "WebPush",
    "mark_read",
    "notification_page",
    "on_created",
    "render_notifications",
    "start_web_push",
    "subscribe_handlers",
    "unread_count",
]

_EVERY_TYPE = Filters()


async def render_notifications(
    session: AsyncSession, account_id: int, notification_ids: Collection[int], urls: Links
) -> list[dict[str, Any]]:
    """The account's notifications among these ids as entities, newest first, leaving out
    those that are gone (dismissed, undone) or whose post it may no longer see."""
    rows = await repository.by_ids(session, account_id, notification_ids)
    return await render.notifications(session, rows, account_id, urls)


async def notification_page(
    session: AsyncSession, account_id: int, page: Page, urls: Links
) -> tuple[list[int], list[dict[str, Any]]]:
    """One page of the account's notifications, as `GET /api/v1/notifications` reads it:
    the ids of the rows read (the page's cursors) and the entities still to show."""
    rows = await service.page(session, account_id, _EVERY_TYPE, page)
    return [row.id for row in rows], await render.notifications(session, rows, account_id, urls)


async def unread_count(session: AsyncSession, account_id: int, cap: int) -> int:
    """Notifications above the account's `notifications` read marker, at most `cap`."""
    return await service.unread_count(session, account_id, _EVERY_TYPE, cap)


async def mark_read(session: AsyncSession, account_id: int, last_read_id: int) -> None:
    """Move the `notifications` marker up to this id (never back). A save that raced
    another one is left to the other, which read at least as far."""
    found = await service.markers(session, account_id, ["notifications"])
    if "notifications" in found and found["notifications"].last_read_id >= last_read_id:
        return
    try:
        await service.save_markers(session, account_id, {"notifications": last_read_id})
    except Conflict:
        return

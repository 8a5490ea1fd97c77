"""What the app factory and the streaming gateway call."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.runtime import Links
from tessera.notifications import render, repository
from tessera.notifications.handlers import GROUP, CreatedHook, on_created, subscribe_handlers
from tessera.notifications.push import WebPush, start_web_push
from tessera.notifications.service import Created

__all__ = [
    "GROUP",
    "Created",
    "CreatedHook",
    "WebPush",
    "on_created",
    "render_notifications",
    "start_web_push",
    "subscribe_handlers",
]


async def render_notifications(
    session: AsyncSession, account_id: int, notification_ids: Collection[int], urls: Links
) -> list[dict[str, Any]]:
    """The account's notifications among these ids as entities, newest first, leaving out
    those that are gone (dismissed, undone) or whose post it may no longer see."""
    rows = await repository.by_ids(session, account_id, notification_ids)
    return await render.notifications(session, rows, account_id, urls)

"""What the app factory and the web app call."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.pagination import Page
from tessera.core.runtime import Runtime
from tessera.feed import service
from tessera.feed.handlers import subscribe_handlers

__all__ = ["home_ids", "subscribe_handlers"]


async def home_ids(
    session: AsyncSession, runtime: Runtime, account_id: int, page: Page
) -> list[int]:
    """One page of the account's home timeline, as `GET /api/v1/timelines/home` reads
    it: post ids, newest first, to render with `posts.render_statuses` (which drops
    what the reader may no longer see). The ids are the page's cursors."""
    return await service.home_ids(session, service.feeds_of(runtime), account_id, page)

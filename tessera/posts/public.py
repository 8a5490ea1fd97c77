"""Plain functions other services call; each opens no transaction of its own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.posts import service


async def count_posts(session: AsyncSession) -> int:
    """How many posts and comments exist (instance statistics)."""
    return await service.count_posts(session)

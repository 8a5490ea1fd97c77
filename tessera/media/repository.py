"""All SQL of the media service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.media.models import MediaAttachment


async def get(session: AsyncSession, media_id: int) -> MediaAttachment | None:
    return await session.get(MediaAttachment, media_id)

"""The media service's rules: validate, process (off the event loop), store, attach."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.config import Settings
from tessera.core.errors import NotFound, PayloadTooLarge, ValidationFailed
from tessera.core.ids import new_id
from tessera.core.storage import Storage, content_key
from tessera.media import processing, repository
from tessera.media.models import DESCRIPTION_MAX, MediaAttachment

_pools: dict[int, ThreadPoolExecutor] = {}


def pool(workers: int) -> ThreadPoolExecutor:
    """One pool per process: libvips releases the GIL, so threads run in parallel."""
    if workers not in _pools:
        _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="media")
    return _pools[workers]


def parse_focus(text: str | None) -> tuple[float, float] | None:
    """`"x,y"` with both in [-1, 1] (x right, y up), or a 422."""
    if text is None or text == "":
        return None
    try:
        x_text, y_text = text.split(",")
        focus = (float(x_text), float(y_text))
    except ValueError:
        raise ValidationFailed.one("focus", "ERR_INVALID", "must be two numbers: x,y") from None
    if not all(-1.0 <= value <= 1.0 for value in focus):
        raise ValidationFailed.one("focus", "ERR_INVALID", "must lie between -1.0 and 1.0")
    return focus


def check_description(description: str | None) -> None:
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise ValidationFailed.one(
            "description", "ERR_TOO_LONG", f"is too long (maximum is {DESCRIPTION_MAX} characters)"
        )


def check_size(settings: Settings, size: int) -> None:
    if size > settings.media_size_limit:
        raise PayloadTooLarge(f"The file is larger than {settings.media_size_limit} bytes")
    if size == 0:
        raise ValidationFailed.one("file", "ERR_BLANK", "is empty")


async def render_photo(
    settings: Settings, data: bytes, focus: tuple[float, float]
) -> processing.Processed:
    """Process in the media pool; a bad image becomes a 422 naming what is wrong."""
    limits = processing.Limits(settings.media_max_pixels, settings.media_min_side)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(
            pool(settings.media_workers), partial(processing.process, data, limits, focus)
        )
    except processing.MediaError as exc:
        raise ValidationFailed.one("file", "ERR_INVALID", str(exc)) from None


async def store_renditions(
    storage: Storage, secret: bytes, processed: processing.Processed
) -> dict[str, dict[str, object]]:
    """Write every rendition (JPEG and WebP); returns where each one went."""
    files: dict[str, dict[str, object]] = {}
    uploads = []
    for name, rendition in processed.renditions.items():
        jpeg_key = content_key(secret, rendition.jpeg, "jpg")
        webp_key = content_key(secret, rendition.webp, "webp")
        uploads.append(storage.put(jpeg_key, rendition.jpeg, "image/jpeg"))
        uploads.append(storage.put(webp_key, rendition.webp, "image/webp"))
        files[name] = {
            "jpeg": jpeg_key,
            "webp": webp_key,
            "width": rendition.width,
            "height": rendition.height,
            "size": len(rendition.jpeg),
        }
    await asyncio.gather(*uploads)
    return files


async def prepare_upload(
    settings: Settings, data: bytes, description: str, focus: tuple[float, float]
) -> processing.Processed:
    """Every check of an upload, and its processing; nothing is stored yet, so a caller
    with several photos can refuse them all before any is written."""
    check_description(description)
    check_size(settings, len(data))
    return await render_photo(settings, data, focus)


async def save_upload(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    *,
    account_id: int,
    processed: processing.Processed,
    description: str,
    focus: tuple[float, float],
) -> MediaAttachment:
    """Store a prepared upload's renditions and write its row (not yet in any post)."""
    files = await store_renditions(storage, settings.signing_key, processed)
    return await create(
        session,
        account_id=account_id,
        processed=processed,
        files=files,
        description=description,
        focus=focus,
    )


async def create(
    session: AsyncSession,
    *,
    account_id: int,
    processed: processing.Processed,
    files: dict[str, dict[str, object]],
    description: str,
    focus: tuple[float, float],
) -> MediaAttachment:
    media = MediaAttachment(
        id=new_id(account_id),
        account_id=account_id,
        mime_type=processed.mime_type,
        description=description,
        focus_x=focus[0],
        focus_y=focus[1],
        blurhash=processed.blurhash,
        source_width=processed.source_width,
        source_height=processed.source_height,
        files=files,
    )
    session.add(media)
    await session.flush()
    return media


async def own_media(session: AsyncSession, account_id: int, media_id: int) -> MediaAttachment:
    """The caller's own upload; anyone else's is a 404, as if it did not exist."""
    media = await repository.get(session, media_id)
    if media is None or media.account_id != account_id:
        raise NotFound()
    return media


async def own_unattached_media(
    session: AsyncSession, account_id: int, media_id: int
) -> MediaAttachment:
    """The caller's own upload not yet in a post: once posted, a photo is described
    through the post (as on Mastodon, where this is a 404 too)."""
    media = await own_media(session, account_id, media_id)
    if media.post_id is not None:
        raise NotFound()
    return media


async def update(
    session: AsyncSession,
    media: MediaAttachment,
    *,
    description: str | None,
    focus: tuple[float, float] | None,
) -> None:
    check_description(description)
    if description is not None:
        media.description = description
    if focus is not None:
        media.focus_x, media.focus_y = focus
    await session.flush()

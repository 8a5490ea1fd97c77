"""What other services call: profile images through the same pipeline as photos, and
the photos of posts (attach, render, delete)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from tessera.core.errors import ValidationFailed
from tessera.core.runtime import Links, Runtime
from tessera.media import processing, render, repository, service

ProfileImage = processing.Processed
PreparedPhoto = processing.Processed
"""An upload checked and processed, not yet stored."""
NO_FOCUS = (0.0, 0.0)


async def process_profile_image(
    runtime: Runtime, data: bytes, kind: Literal["avatar", "header"]
) -> ProfileImage:
    """An avatar (renditions `avatar400`, `avatar80`) or a header (`header`), not yet
    stored, so a caller can check several images before storing any.

    A bad image is a 422 on the `kind` field.
    """
    settings = runtime.settings
    limits = processing.Limits(settings.media_max_pixels, 1)
    loop = asyncio.get_running_loop()
    try:
        renditions = await loop.run_in_executor(
            service.pool(settings.media_workers),
            partial(processing.profile_image, data, limits, kind),
        )
    except processing.MediaError as exc:
        raise ValidationFailed.one(kind, "ERR_INVALID", str(exc)) from None
    return processing.Processed("image/jpeg", 0, 0, renditions, "")


async def store_profile_image(runtime: Runtime, image: ProfileImage) -> dict[str, str]:
    """Store a processed profile image; returns each rendition's JPEG key."""
    files = await service.store_renditions(runtime.storage, runtime.settings.signing_key, image)
    return {name: str(entry["jpeg"]) for name, entry in files.items()}


# -- uploads (the web app) ----------------------------------------------------------------


async def prepare_photo(runtime: Runtime, data: bytes, description: str) -> PreparedPhoto:
    """`POST /api/v2/media`'s checks and processing: 413 for a file over the limit, 422
    naming what is wrong with any other; nothing is stored yet, so a caller with several
    photos can refuse them all before any is written."""
    return await service.prepare_upload(runtime.settings, data, description, NO_FOCUS)


async def save_photo(
    session: AsyncSession,
    runtime: Runtime,
    account_id: int,
    photo: PreparedPhoto,
    description: str,
    urls: Links,
) -> dict[str, Any]:
    """Store a prepared photo as the account's upload (not yet in a post); its
    MediaAttachment entity."""
    media = await service.save_upload(
        session,
        runtime.storage,
        runtime.settings,
        account_id=account_id,
        processed=photo,
        description=description,
        focus=NO_FOCUS,
    )
    return render.media_attachment(media, urls)


async def describe(session: AsyncSession, account_id: int, media_id: int, description: str) -> None:
    """`PUT /api/v1/media/:id` with alt text: the account's own upload not yet in a
    post (404 otherwise); 422 for a description that is too long."""
    media = await service.own_unattached_media(session, account_id, media_id)
    await service.update(session, media, description=description, focus=None)


# -- photos of posts (called by the posts service) --------------------------------------


async def attach_to_post(
    session: AsyncSession, account_id: int, post_id: int, media_ids: Sequence[int]
) -> None:
    """Give the account's own unattached uploads to a post, in this order.

    Every id that is unknown, someone else's or already attached is a 422 on
    `media_ids` (all of them named at once); the caller's transaction then rolls back.
    """
    rows = await repository.by_ids(session, media_ids)
    problems: list[tuple[str, str]] = []
    for media_id in media_ids:
        row = rows.get(media_id)
        if row is None or row.account_id != account_id:
            problems.append(("ERR_INVALID", f"{media_id} is not one of your uploads"))
        elif row.post_id is not None:
            problems.append(("ERR_TAKEN", f"{media_id} is already attached to a post"))
    if problems:
        raise ValidationFailed({"media_ids": problems})
    for position, media_id in enumerate(media_ids):
        if not await repository.attach(session, media_id, account_id, post_id, position):
            raise ValidationFailed.one(
                "media_ids", "ERR_TAKEN", f"{media_id} is already attached to a post"
            )


async def attachments_of_posts(
    session: AsyncSession, post_ids: Iterable[int], urls: Links
) -> dict[int, list[dict[str, Any]]]:
    """MediaAttachment entities per post id, in display order (no entry: no media)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for row in await repository.of_posts(session, post_ids):
        if row.post_id is not None:
            out.setdefault(row.post_id, []).append(render.media_attachment(row, urls))
    return out


async def delete_post_media(session: AsyncSession, post_id: int) -> set[str]:
    """Delete a post's media rows; returns the storage keys no other media row names.

    Keys are content-addressed, so the same file may back several rows; only the
    returned ones may be deleted from storage, and only after the commit.
    """
    rows = await repository.delete_of_post(session, post_id)
    keys = {
        str(entry[fmt])
        for row in rows
        for entry in row.files.values()
        for fmt in ("jpeg", "webp")
        if entry.get(fmt)
    }
    return keys - await repository.keys_in_use(session, keys)


# -- bulk loading (`tessera seed`) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    """A photo processed and stored once, whose files any number of rows may name."""

    mime_type: str
    source_width: int
    source_height: int
    blurhash: str
    files: dict[str, dict[str, object]]


@dataclass(frozen=True, slots=True)
class BulkAttachment:
    id: int
    account_id: int
    post_id: int
    position: int
    created_at: datetime
    photo: StoredPhoto
    description: str = ""


async def store_photo(runtime: Runtime, data: bytes) -> StoredPhoto:
    """Process an image exactly as an upload is (422 if it is bad) and store its
    renditions; no row is written."""
    processed = await service.render_photo(runtime.settings, data, (0.0, 0.0))
    files = await service.store_renditions(runtime.storage, runtime.settings.signing_key, processed)
    return StoredPhoto(
        processed.mime_type,
        processed.source_width,
        processed.source_height,
        processed.blurhash,
        files,
    )


async def bulk_insert_attachments(
    session: AsyncSession, attachments: Sequence[BulkAttachment]
) -> None:
    """Insert photos already attached to posts, in one executemany. Rows may share a
    StoredPhoto: files are content-addressed and deleted only when no row names them."""
    await repository.insert_many(
        session,
        [
            {
                "id": media.id,
                "account_id": media.account_id,
                "post_id": media.post_id,
                "position": media.position,
                "mime_type": media.photo.mime_type,
                "description": media.description,
                "focus_x": 0.0,
                "focus_y": 0.0,
                "blurhash": media.photo.blurhash,
                "source_width": media.photo.source_width,
                "source_height": media.photo.source_height,
                "files": media.photo.files,
                "created_at": media.created_at,
            }
            for media in attachments
        ],
    )

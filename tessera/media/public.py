"""What other services call: profile images through the same pipeline as photos."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Literal

from tessera.core.errors import ValidationFailed
from tessera.core.runtime import Runtime
from tessera.media import processing, service

ProfileImage = processing.Processed


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

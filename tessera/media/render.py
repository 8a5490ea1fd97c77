"""Media as Mastodon's MediaAttachment entity."""

from __future__ import annotations

from typing import Any

from tessera.core.runtime import Links
from tessera.media.models import MediaAttachment


def _size(files: dict[str, Any], name: str) -> dict[str, Any]:
    width, height = files[name]["width"], files[name]["height"]
    return {
        "width": width,
        "height": height,
        "size": f"{width}x{height}",
        "aspect": round(width / height, 6),
    }


def media_attachment(media: MediaAttachment, links: Links) -> dict[str, Any]:
    files = media.files
    url = links.media(files["original"]["jpeg"])
    return {
        "id": str(media.id),
        "type": "image",
        "url": url,
        "preview_url": links.media(files["small"]["jpeg"]),
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {
            "original": _size(files, "original"),
            "small": _size(files, "small"),
            "focus": {"x": media.focus_x, "y": media.focus_y},
        },
        "description": media.description or None,
        "blurhash": media.blurhash,
        "tessera": {
            name: {
                "jpeg": links.media(rendition["jpeg"]),
                "webp": links.media(rendition["webp"]),
                "width": rendition["width"],
                "height": rendition["height"],
            }
            for name, rendition in files.items()
        },
    }

"""Instance metadata (v1 and v2), read by every Mastodon client on log-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request

from tessera import __version__, accounts, posts
from tessera.core import vapid
from tessera.core.config import Settings
from tessera.core.runtime import SessionDep, SettingsDep, base_url

router = APIRouter()

VERSION = f"4.0.0 (compatible; Tessera {__version__})"
MAX_CHARACTERS = 2200
MAX_MEDIA = 10
IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/heic", "image/avif", "image/gif"]
DESCRIPTION = "A photo-sharing community running Tessera."


def _statuses() -> dict[str, int]:
    return {
        "max_characters": MAX_CHARACTERS,
        "max_media_attachments": MAX_MEDIA,
        "characters_reserved_per_url": 23,
    }


def _media(settings: Settings) -> dict[str, Any]:
    return {
        "supported_mime_types": IMAGE_TYPES,
        "description_limit": 1500,
        "image_size_limit": settings.media_size_limit,
        "image_matrix_limit": settings.media_max_pixels,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
    }


def _polls() -> dict[str, int]:
    return {
        "max_options": 0,
        "max_characters_per_option": 0,
        "min_expiration": 0,
        "max_expiration": 0,
    }


def _streaming(base: str) -> str:
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


@router.get("/api/v1/instance")
@router.get("/api/v1/instance/", include_in_schema=False)
async def instance_v1(
    request: Request, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    base = base_url(request)
    return {
        "uri": urlsplit(base).netloc,
        "title": "Tessera",
        "short_description": DESCRIPTION,
        "description": DESCRIPTION,
        "email": "",
        "version": VERSION,
        "urls": {"streaming_api": _streaming(base)},
        "stats": {
            "user_count": await accounts.count_accounts(session),
            "status_count": await posts.count_posts(session),
            "domain_count": 0,
        },
        "thumbnail": None,
        "languages": ["en"],
        "registrations": settings.registrations_open,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 0},
            "statuses": _statuses(),
            "media_attachments": _media(settings),
            "polls": _polls(),
        },
        "contact_account": None,
        "rules": [],
    }


@router.get("/api/v2/instance")
@router.get("/api/v2/instance/", include_in_schema=False)
async def instance_v2(request: Request, settings: SettingsDep) -> dict[str, Any]:
    base = base_url(request)
    return {
        "domain": urlsplit(base).netloc,
        "title": "Tessera",
        "version": VERSION,
        "source_url": "",
        "description": DESCRIPTION,
        "usage": {"users": {"active_month": 0}},
        "thumbnail": {"url": f"{base}/avatars/missing.png"},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": _streaming(base), "status": None},
            "vapid": {"public_key": vapid.public_key(settings)},
            "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
            "statuses": _statuses(),
            "media_attachments": _media(settings),
            "polls": _polls(),
            "translation": {"enabled": False},
        },
        "registrations": {
            "enabled": settings.registrations_open,
            "approval_required": False,
            "message": None,
            "url": None,
        },
        "contact": {"email": "", "account": None},
        "rules": [],
    }


@router.get("/api/v1/instance/rules")
async def rules() -> list[Any]:
    return []


@router.get("/api/v1/custom_emojis")
async def custom_emojis() -> list[Any]:
    return []

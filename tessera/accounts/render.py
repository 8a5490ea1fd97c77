"""Accounts as Mastodon entities: Account, CredentialAccount, Relationship, Token."""

from __future__ import annotations

import html
from typing import Any

from tessera.accounts.models import Account
from tessera.accounts.oauth import IssuedToken
from tessera.accounts.service import Relationship
from tessera.core.db import iso
from tessera.core.runtime import Links

MISSING_AVATAR = "/avatars/missing.png"
MISSING_HEADER = "/headers/missing.png"


def note_html(text: str) -> str:
    """A plain-text bio as the HTML Mastodon clients expect."""
    if not text:
        return ""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br />')}</p>" for p in paragraphs)


def account(row: Account, links: Links) -> dict[str, Any]:
    avatar = links.media(row.avatar_file) if row.avatar_file else links.base + MISSING_AVATAR
    header = links.media(row.header_file) if row.header_file else links.base + MISSING_HEADER
    return {
        "id": str(row.id),
        "username": row.username,
        "acct": row.username,
        "display_name": row.display_name,
        "locked": row.locked,
        "bot": row.bot,
        "discoverable": row.discoverable,
        "indexable": row.discoverable,
        "group": False,
        "hide_collections": False,
        "noindex": False,
        "created_at": iso(row.created_at),
        "note": note_html(row.note),
        "url": f"{links.base}/@{row.username}",
        "uri": f"{links.base}/users/{row.username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": row.followers_count,
        "following_count": row.following_count,
        "statuses_count": row.statuses_count,
        "last_status_at": row.last_status_at.date().isoformat() if row.last_status_at else None,
        "emojis": [],
        "fields": [],
        "roles": [],
    }


def credential_account(row: Account, links: Links) -> dict[str, Any]:
    """The caller's own account, with the `source` of their profile and settings."""
    body = account(row, links)
    body["source"] = {
        "privacy": row.default_privacy,
        "sensitive": row.default_sensitive,
        "language": row.default_language,
        "note": row.note,
        "fields": [],
        "follow_requests_count": row.follow_requests_count,
        "hide_collections": False,
        "discoverable": row.discoverable,
        "indexable": row.discoverable,
    }
    body["role"] = {
        "id": "-99",
        "name": "",
        "permissions": "0",
        "color": "",
        "highlighted": False,
    }
    return body


def relationship(rel: Relationship) -> dict[str, Any]:
    return {
        "id": str(rel.id),
        "following": rel.following,
        "showing_reblogs": rel.showing_reblogs,
        "notifying": rel.notifying,
        "languages": None,
        "followed_by": rel.followed_by,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
        "muting_notifications": False,
        "requested": rel.requested,
        "requested_by": rel.requested_by,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }


def token(issued: IssuedToken) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": issued.scope,
        "created_at": issued.created_at,
    }
    if issued.refresh_token:
        body["refresh_token"] = issued.refresh_token
    if issued.expires_in:
        body["expires_in"] = issued.expires_in
    return body

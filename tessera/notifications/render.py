"""Notifications as Mastodon's Notification entity, a page at a time: one batch of
accounts and one of statuses, whatever the page size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, posts
from tessera.core.db import iso
from tessera.core.runtime import Links
from tessera.notifications.models import Notification

__all__ = ["notifications"]


async def notifications(
    session: AsyncSession, rows: Sequence[Notification], viewer_id: int, urls: Links
) -> list[dict[str, Any]]:
    """Entities in the order given, leaving out those whose account is gone or whose
    status is gone or no longer visible to the viewer (the posts service decides)."""
    if not rows:
        return []
    people = await accounts.render_accounts(session, {row.from_account_id for row in rows}, urls)
    status_ids = list(dict.fromkeys(row.status_id for row in rows if row.status_id is not None))
    statuses = {
        int(status["id"]): status
        for status in await posts.render_statuses(session, viewer_id, status_ids, urls)
    }
    out = []
    for row in rows:
        account = people.get(row.from_account_id)
        if account is None:
            continue
        body: dict[str, Any] = {
            "id": str(row.id),
            "type": row.type,
            "group_key": f"ungrouped-{row.id}",
            "created_at": iso(row.created_at),
            "account": account,
        }
        if row.status_id is not None:
            status = statuses.get(row.status_id)
            if status is None:
                continue
            body["status"] = status
        out.append(body)
    return out

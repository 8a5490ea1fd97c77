"""Routes of the notifications service: notifications, the unread count, read markers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from tessera.accounts import user_id_with
from tessera.core.db import iso
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.pagination import PageParams, link_header
from tessera.core.params import Params, StrList, is_id, parse_id, parsed
from tessera.core.runtime import RuntimeDep, SessionDep, links
from tessera.notifications import render, service
from tessera.notifications.models import TIMELINES
from tessera.notifications.service import UNREAD_CAP, Filters, MarkerState

router = APIRouter()

NOTIFICATIONS_PAGE = 40
UNREAD_DEFAULT = 100


class FilterParams(Params):
    types: StrList = Field(default_factory=list)
    """Only these types (`types[]`); none means every type."""
    exclude_types: StrList = Field(default_factory=list)
    account_id: int | None = Field(default=None, ge=0)
    """Only those caused by this account."""

    def filters(self) -> Filters:
        return Filters(
            frozenset(self.types) or None, frozenset(self.exclude_types), self.account_id
        )


class NotificationsQuery(FilterParams, PageParams):
    pass


class UnreadQuery(FilterParams):
    limit: int | None = None


@router.get("/api/v1/notifications")
async def list_notifications(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("read:notifications")],
    query: Annotated[NotificationsQuery, parsed(NotificationsQuery)],
) -> list[dict[str, Any]]:
    page = query.page(NOTIFICATIONS_PAGE)
    rows = await service.page(session, account_id, query.filters(), page)
    # Cursors of the rows read, before rendering drops any whose post went out of
    # sight, so that the next page starts where this one ended.
    link = link_header(request, runtime.settings.public_url, [row.id for row in rows], page.limit)
    if link:
        response.headers["Link"] = link
    return await render.notifications(session, rows, account_id, links(request))


@router.get("/api/v1/notifications/unread_count")
async def unread_count(
    session: SessionDep,
    account_id: Annotated[int, user_id_with("read:notifications")],
    query: Annotated[UnreadQuery, parsed(UnreadQuery)],
) -> dict[str, int]:
    """Notifications above the `notifications` marker (Mastodon 4.3), counted up to `limit`."""
    cap = UNREAD_DEFAULT if query.limit is None else min(max(abs(query.limit), 1), UNREAD_CAP)
    return {"count": await service.unread_count(session, account_id, query.filters(), cap)}


@router.get("/api/v1/notifications/{notification_id}")
async def get_notification(
    request: Request,
    session: SessionDep,
    notification_id: str,
    account_id: Annotated[int, user_id_with("read:notifications")],
) -> dict[str, Any]:
    row = await service.get(session, account_id, parse_id(notification_id))
    rendered = await render.notifications(session, [row], account_id, links(request))
    if not rendered:
        raise NotFound()
    return rendered[0]


@router.post("/api/v1/notifications/clear")
async def clear(
    session: SessionDep, account_id: Annotated[int, user_id_with("write:notifications")]
) -> dict[str, Any]:
    await service.clear(session, account_id)
    return {}


@router.post("/api/v1/notifications/{notification_id}/dismiss")
async def dismiss(
    session: SessionDep,
    notification_id: str,
    account_id: Annotated[int, user_id_with("write:notifications")],
) -> dict[str, Any]:
    await service.dismiss(session, account_id, parse_id(notification_id))
    return {}


class DismissForm(Params):
    id: str


@router.post("/api/v1/notifications/dismiss", include_in_schema=False)
async def dismiss_legacy(
    session: SessionDep,
    account_id: Annotated[int, user_id_with("write:notifications")],
    form: Annotated[DismissForm, parsed(DismissForm)],
) -> dict[str, Any]:
    """Before Mastodon 2.9.2 the id came in the form; older clients still send it so."""
    await service.dismiss(session, account_id, parse_id(form.id))
    return {}


# -- markers -----------------------------------------------------------------------------


def _marker(state: MarkerState) -> dict[str, Any]:
    return {
        "last_read_id": str(state.last_read_id),
        "version": state.version,
        "updated_at": iso(state.updated_at),
    }


class MarkersQuery(Params):
    timeline: StrList = Field(default_factory=list)


@router.get("/api/v1/markers")
async def get_markers(
    session: SessionDep,
    account_id: Annotated[int, user_id_with("read:statuses")],
    query: Annotated[MarkersQuery, parsed(MarkersQuery)],
) -> dict[str, Any]:
    found = await service.markers(session, account_id, query.timeline)
    return {timeline: _marker(state) for timeline, state in found.items()}


class MarkersForm(Params):
    home: str | None = Field(default=None, alias="home[last_read_id]")
    notifications: str | None = Field(default=None, alias="notifications[last_read_id]")


@router.post("/api/v1/markers")
async def save_markers(
    session: SessionDep,
    account_id: Annotated[int, user_id_with("write:statuses")],
    form: Annotated[MarkersForm, parsed(MarkersForm)],
) -> dict[str, Any]:
    """Form `home[last_read_id]=…` or JSON `{"home": {"last_read_id": "…"}}`."""
    given = {t: getattr(form, t) for t in TIMELINES if getattr(form, t) is not None}
    broken = {
        f"{timeline}[last_read_id]": [("ERR_INVALID", "must be an id")]
        for timeline, raw in given.items()
        if not is_id(raw)
    }
    if broken:
        raise ValidationFailed(broken)
    saved = await service.save_markers(
        session, account_id, {timeline: int(raw) for timeline, raw in given.items()}
    )
    return {timeline: _marker(state) for timeline, state in saved.items()}

"""The notifications page, and the live stream behind the unread badge."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from starlette.responses import Response

from tessera import notifications
from tessera.api import streaming
from tessera.core.errors import Unauthorized
from tessera.core.pagination import PageParams
from tessera.core.params import parsed
from tessera.core.runtime import SessionDep, links
from tessera.web import pages
from tessera.web.errors import web_router
from tessera.web.session import OptionalViewer, Viewer, signed_in

router = web_router()

NOTIFICATIONS_PAGE = 30


@router.get("/notifications")
async def notifications_page(
    request: Request,
    db: SessionDep,
    viewer: Annotated[Viewer, signed_in("read:notifications")],
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    """Reading the newest page marks everything up to it read (the badge goes to 0)."""
    page = cursor.page(NOTIFICATIONS_PAGE)
    read, items = await notifications.notification_page(db, viewer.account_id, page, links(request))
    if read and cursor.max_id is None:
        await notifications.mark_read(db, viewer.account_id, read[0])
    return await pages.page(
        request,
        db,
        viewer,
        "notifications.html",
        title="Notifications",
        items=items,
        next_id=read[-1] if len(read) >= page.limit else None,
    )


@router.get("/web/streaming")
async def stream(request: Request, viewer: OptionalViewer) -> Response:
    """Mastodon's `user:notification` stream (the streaming API's own code), for the
    session's token: it ends when the session is logged out."""
    if viewer is None:
        raise Unauthorized("Log in to continue")
    return await streaming.open_sse(request, "user:notification", viewer.token)

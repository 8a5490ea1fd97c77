"""The home feed: the newest posts of the people one follows, then older ones as the
reader scrolls (a script fetches `/web/feed?max_id=…`; without scripts, a link to the
next page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from tessera import feed, posts
from tessera.core.pagination import PageParams
from tessera.core.params import parsed
from tessera.core.runtime import SessionDep, links, runtime_of
from tessera.web import explore, pages
from tessera.web.errors import web_router
from tessera.web.session import Viewer, signed_in

router = web_router()

FEED_PAGE = 10

Reader = Annotated[Viewer, signed_in("read:statuses")]


async def _page(
    request: Request, db: SessionDep, viewer: Viewer, cursor: PageParams
) -> tuple[list[dict[str, Any]], int | None]:
    """The posts of one page and the cursor of the next (None at the end)."""
    page = cursor.page(FEED_PAGE)
    ids = await feed.home_ids(db, runtime_of(request), viewer.account_id, page)
    statuses = await posts.render_statuses(db, viewer.account_id, ids, links(request))
    return statuses, ids[-1] if len(ids) >= page.limit else None


@router.get("/")
async def home(
    request: Request,
    db: SessionDep,
    viewer: Reader,
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    statuses, next_id = await _page(request, db, viewer, cursor)
    discover: list[dict[str, Any]] = []
    if not statuses and cursor.max_id is None:  # a newcomer: something to start from
        discover, _ = await explore.public_photos(request, db, viewer, PageParams())
    return await pages.page(
        request,
        db,
        viewer,
        "home.html",
        title="Home",
        statuses=statuses,
        next_id=next_id,
        first_page=cursor.max_id is None,
        discover=[s for s in discover if s["account"]["id"] != str(viewer.account_id)],
    )


@router.get("/web/feed")
async def more(
    request: Request,
    db: SessionDep,
    viewer: Reader,
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    """The next posts as a fragment of the page, for infinite scrolling."""
    statuses, next_id = await _page(request, db, viewer, cursor)
    html = pages.fragment("feed_page.html", request, viewer, statuses=statuses, next_id=next_id)
    return pages.finish(request, HTMLResponse(html))

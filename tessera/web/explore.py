"""Public photos: a hashtag's page (where captions' hashtags link to), and the newest
photos a newcomer with an empty feed can start from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from tessera import posts
from tessera.core.errors import NotFound
from tessera.core.pagination import PageParams
from tessera.core.params import parsed
from tessera.core.runtime import SessionDep, links
from tessera.web import pages
from tessera.web.errors import web_router
from tessera.web.session import OptionalViewer, Viewer

router = web_router()

GRID_PAGE = 12
TAG_MAX = 100


async def public_photos(
    request: Request,
    db: SessionDep,
    viewer: Viewer | None,
    cursor: PageParams,
    tagged: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of public photo posts (the posts service leaves out what the viewer may
    not see) and the cursor of the next page."""
    page = cursor.page(GRID_PAGE)
    ids = await posts.public_post_ids(db, page, only_media=True, tagged=tagged)
    viewer_id = viewer.account_id if viewer else None
    statuses = await posts.render_statuses(db, viewer_id, ids, links(request))
    return statuses, ids[-1] if len(ids) >= page.limit else None


def _tag(name: str) -> str:
    if not name or len(name) > TAG_MAX:
        raise NotFound()
    return name.lower()


@router.get("/tags/{name}")
async def tag_page(
    request: Request,
    db: SessionDep,
    viewer: OptionalViewer,
    name: str,
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    tag = _tag(name)
    statuses, next_id = await public_photos(request, db, viewer, cursor, tag)
    return await pages.page(
        request,
        db,
        viewer,
        "tag.html",
        title=f"#{tag}",
        tag=tag,
        statuses=statuses,
        next_id=next_id,
    )


@router.get("/web/tags/{name}")
async def more_tagged(
    request: Request,
    db: SessionDep,
    viewer: OptionalViewer,
    name: str,
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    """The next photos of a hashtag's grid, for infinite scrolling."""
    tag = _tag(name)
    statuses, next_id = await public_photos(request, db, viewer, cursor, tag)
    html = pages.fragment(
        "grid_page.html",
        request,
        viewer,
        statuses=statuses,
        next_id=next_id,
        more_href=f"/tags/{tag}",
        more_fragment=f"/web/tags/{tag}",
    )
    return pages.finish(request, HTMLResponse(html))

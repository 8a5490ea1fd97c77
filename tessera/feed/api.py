"""Routes of the feed service: the home and public timelines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response

from tessera import posts
from tessera.accounts import Caller, optional_caller, user_id_with
from tessera.core.errors import Forbidden
from tessera.core.pagination import PageParams, link_header
from tessera.core.params import parsed
from tessera.core.runtime import RuntimeDep, SessionDep, links
from tessera.feed import service

router = APIRouter()

TIMELINE_PAGE = 20


class TimelineQuery(PageParams):
    local: bool = False
    """Every account is local, so `local` changes nothing."""
    remote: bool = False
    only_media: bool = False


async def _answer(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    viewer: int | None,
    ids: list[int],
    limit: int,
) -> list[dict[str, Any]]:
    # The cursors are those of the page read, before visibility checks drop any post,
    # so that the next page starts where this one ended.
    link = link_header(request, runtime.settings.public_url, ids, limit)
    if link:
        response.headers["Link"] = link
    return await posts.render_statuses(session, viewer, ids, links(request))


@router.get("/api/v1/timelines/home")
async def home_timeline(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("read:statuses")],
    query: Annotated[TimelineQuery, parsed(TimelineQuery)],
) -> list[dict[str, Any]]:
    page = query.page(TIMELINE_PAGE)
    ids = await service.home_ids(session, service.feeds_of(runtime), account_id, page)
    return await _answer(request, response, runtime, session, account_id, ids, page.limit)


@router.get("/api/v1/timelines/public")
async def public_timeline(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    query: Annotated[TimelineQuery, parsed(TimelineQuery)],
    caller: Caller | None = optional_caller,
) -> list[dict[str, Any]]:
    viewer = None
    if caller is not None:
        if not caller.allows("read:statuses"):
            raise Forbidden("This action is outside the authorized scopes")
        viewer = caller.account_id
    page = query.page(TIMELINE_PAGE)
    if query.remote:  # every account is local
        return []
    ids = await service.public_ids(session, page, only_media=query.only_media)
    return await _answer(request, response, runtime, session, viewer, ids, page.limit)

"""Routes of the interactions service: like, save, and the lists of likes and saves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tessera import accounts, posts
from tessera.accounts import Caller, optional_caller, user_id_with
from tessera.core.errors import Forbidden, NotFound
from tessera.core.pagination import PageParams, link_header
from tessera.core.params import parse_id, parsed
from tessera.core.runtime import RuntimeDep, SessionDep, links
from tessera.interactions import service
from tessera.interactions.models import Bookmark, Favourite

router = APIRouter()

STATUS_PAGE = 20
ACCOUNT_PAGE = 40

Change = Callable[[AsyncSession, int, int], Awaitable[None]]


async def _changed(
    request: Request, session: AsyncSession, account_id: int, status_id: str, change: Change
) -> dict[str, Any]:
    """Apply the change, then answer the post as the account now sees it."""
    post_id = parse_id(status_id)
    await change(session, account_id, post_id)
    bodies = await posts.render_statuses(session, account_id, [post_id], links(request))
    if not bodies:  # deleted by a transaction that committed since
        raise NotFound()
    return bodies[0]


@router.post("/api/v1/statuses/{status_id}/favourite")
async def favourite(
    request: Request,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("write:favourites")],
    status_id: str,
) -> dict[str, Any]:
    return await _changed(request, session, account_id, status_id, service.favourite)


@router.post("/api/v1/statuses/{status_id}/unfavourite")
async def unfavourite(
    request: Request,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("write:favourites")],
    status_id: str,
) -> dict[str, Any]:
    return await _changed(request, session, account_id, status_id, service.unfavourite)


@router.post("/api/v1/statuses/{status_id}/bookmark")
async def bookmark(
    request: Request,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("write:bookmarks")],
    status_id: str,
) -> dict[str, Any]:
    return await _changed(request, session, account_id, status_id, service.bookmark)


@router.post("/api/v1/statuses/{status_id}/unbookmark")
async def unbookmark(
    request: Request,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("write:bookmarks")],
    status_id: str,
) -> dict[str, Any]:
    return await _changed(request, session, account_id, status_id, service.unbookmark)


async def _marked_page(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: AsyncSession,
    kind: service.Kind,
    account_id: int,
    query: PageParams,
) -> list[dict[str, Any]]:
    """A page of liked or saved posts. The Link cursors are the marks' ids, taken before
    the visibility check drops any post, so that pages never skip."""
    page = query.page(STATUS_PAGE)
    rows = await service.marked_posts(session, kind, account_id, page)
    link = link_header(request, runtime.settings.public_url, [m for m, _ in rows], page.limit)
    if link:
        response.headers["Link"] = link
    return await posts.render_statuses(
        session, account_id, [post_id for _, post_id in rows], links(request)
    )


@router.get("/api/v1/favourites")
async def favourites(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("read:favourites")],
    query: Annotated[PageParams, parsed(PageParams)],
) -> list[dict[str, Any]]:
    return await _marked_page(request, response, runtime, session, Favourite, account_id, query)


@router.get("/api/v1/bookmarks")
async def bookmarks(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: Annotated[int, user_id_with("read:bookmarks")],
    query: Annotated[PageParams, parsed(PageParams)],
) -> list[dict[str, Any]]:
    return await _marked_page(request, response, runtime, session, Bookmark, account_id, query)


@router.get("/api/v1/statuses/{status_id}/favourited_by")
async def favourited_by(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    status_id: str,
    query: Annotated[PageParams, parsed(PageParams)],
    caller: Caller | None = optional_caller,
) -> list[dict[str, Any]]:
    """Who liked a post the caller may see, newest first, paged by like id."""
    viewer = None
    if caller is not None:
        if not caller.allows("read:accounts"):
            raise Forbidden("This action is outside the authorized scopes")
        viewer = caller.account_id
    page = query.page(ACCOUNT_PAGE)
    rows = await service.likers(session, viewer, parse_id(status_id), page)
    link = link_header(
        request, runtime.settings.public_url, [like for like, _ in rows], page.limit, "since_id"
    )
    if link:
        response.headers["Link"] = link
    people = await accounts.render_accounts(session, {a for _, a in rows}, links(request))
    return [people[a] for _, a in rows if a in people]

"""Routes of the posts service: publish, read and delete statuses, their threads of
comments; the profile grid."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BeforeValidator, Field

from tessera.accounts import Caller, caller_with, optional_caller
from tessera.core.errors import Forbidden, NotFound, Unprocessable, ValidationFailed
from tessera.core.pagination import PageParams, link_header
from tessera.core.params import Params, parse_id, parsed
from tessera.core.runtime import RuntimeDep, SessionDep, links
from tessera.posts import render, service
from tessera.posts.models import Post

router = APIRouter()

ACCOUNT_PAGE = 20
IDEMPOTENCY_KEY_MAX = 1000


def _as_strings(value: object) -> object:
    """JSON clients send ids as numbers too; one bare value counts as a list of one."""
    if isinstance(value, str | int):
        value = [value]
    if isinstance(value, list):
        return [str(item) if isinstance(item, int) else item for item in value]
    return value


def _as_string(value: object) -> object:
    return str(value) if isinstance(value, int) else value


class StatusForm(Params):
    status: str = ""
    media_ids: Annotated[list[str], BeforeValidator(_as_strings)] = Field(default_factory=list)
    in_reply_to_id: Annotated[str | None, BeforeValidator(_as_string)] = None
    sensitive: bool | None = None
    spoiler_text: str | None = None
    visibility: str | None = None
    language: str | None = None
    scheduled_at: str | None = None


def _user(caller: Caller) -> int:
    if caller.account_id is None:
        raise Unprocessable("This method requires an authenticated user")
    return caller.account_id


def _viewer(caller: Caller | None) -> int | None:
    """Who reads: nobody without a token; a token must allow reading statuses."""
    if caller is None:
        return None
    if not caller.allows("read:statuses"):
        raise Forbidden("This action is outside the authorized scopes")
    return caller.account_id


@router.post("/api/v1/statuses")
async def create_status(
    request: Request,
    session: SessionDep,
    caller: Annotated[Caller, caller_with("write:statuses")],
    form: Annotated[StatusForm, parsed(StatusForm)],
) -> dict[str, Any]:
    account_id = _user(caller)
    if form.scheduled_at:
        raise ValidationFailed.one("scheduled_at", "ERR_UNSUPPORTED", "is not supported")
    key = request.headers.get("idempotency-key") or None
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        raise ValidationFailed.one("Idempotency-Key", "ERR_TOO_LONG", "is too long")
    urls = links(request)
    post = await service.create_post(
        session,
        account_id=account_id,
        app_id=caller.app_id,
        draft=service.Draft(
            status=form.status,
            media_ids=form.media_ids,
            in_reply_to_id=form.in_reply_to_id or None,
            sensitive=form.sensitive,
            spoiler_text=form.spoiler_text,
            visibility=form.visibility or None,
            language=form.language or None,
        ),
        local_domain=urlsplit(urls.base).netloc,
        idempotency_key=key,
    )
    [body] = await render.statuses(session, [post], urls, account_id)
    return body


@router.get("/api/v1/statuses/{status_id}")
async def get_status(
    request: Request,
    session: SessionDep,
    status_id: str,
    caller: Caller | None = optional_caller,
) -> dict[str, Any]:
    viewer = _viewer(caller)
    post = await service.visible_post(session, viewer, parse_id(status_id))
    [body] = await render.statuses(session, [post], links(request), viewer)
    return body


@router.get("/api/v1/statuses/{status_id}/context")
async def status_context(
    request: Request,
    session: SessionDep,
    status_id: str,
    caller: Caller | None = optional_caller,
) -> dict[str, list[dict[str, Any]]]:
    """The comments above and below a post, rendered in one batch."""
    viewer = _viewer(caller)
    post = await service.visible_post(session, viewer, parse_id(status_id))
    thread = await service.thread(session, viewer, post)
    bodies = await render.statuses(
        session, [*thread.ancestors, *thread.descendants], links(request), viewer
    )
    by_id = {body["id"]: body for body in bodies}

    def part(posts: list[Post]) -> list[dict[str, Any]]:
        return [by_id[str(post.id)] for post in posts if str(post.id) in by_id]

    return {"ancestors": part(thread.ancestors), "descendants": part(thread.descendants)}


class DeleteForm(Params):
    delete_media: bool = True
    """Accepted for Mastodon.py; a post's photos always go with it."""


@router.delete("/api/v1/statuses/{status_id}")
async def delete_status(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    caller: Annotated[Caller, caller_with("write:statuses")],
    status_id: str,
    form: Annotated[DeleteForm, parsed(DeleteForm)],
) -> dict[str, Any]:
    account_id = _user(caller)
    post = await service.deletable_post(session, account_id, parse_id(status_id))
    [body] = await render.statuses(session, [post], links(request), account_id, with_source=True)
    await service.delete_post(session, runtime.storage, post)
    return body


class AccountStatusesQuery(PageParams):
    only_media: bool = False
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    pinned: bool = False
    tagged: str | None = Field(default=None, max_length=100)


@router.get("/api/v1/accounts/{account_id}/statuses")
async def account_statuses(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: str,
    query: Annotated[AccountStatusesQuery, parsed(AccountStatusesQuery)],
    caller: Caller | None = optional_caller,
) -> list[dict[str, Any]]:
    viewer = _viewer(caller)
    author = parse_id(account_id)
    if not await service.account_exists(session, author):
        raise NotFound()
    if query.pinned:  # nothing can be pinned yet
        return []
    page = query.page(ACCOUNT_PAGE)
    posts = await service.account_posts(
        session,
        viewer,
        author,
        page,
        only_media=query.only_media,
        exclude_replies=query.exclude_replies,
        tagged=query.tagged,
    )
    link = link_header(
        request, runtime.settings.public_url, [post.id for post in posts], page.limit
    )
    if link:
        response.headers["Link"] = link
    return await render.timeline(session, posts, links(request), viewer)

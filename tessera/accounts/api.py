"""Routes of the accounts service: sign-up, profiles, follows, follow requests."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Request, Response, UploadFile
from pydantic import BeforeValidator, Field

from tessera import media
from tessera.accounts import oauth, render, repository, service
from tessera.accounts.auth import Caller, caller_with, optional_caller, user_id_with, user_with
from tessera.accounts.models import Account
from tessera.core.errors import PayloadTooLarge
from tessera.core.pagination import PageParams, link_header
from tessera.core.params import Params, StrList, is_id, parse_id, parsed
from tessera.core.ratelimit import client_ip
from tessera.core.runtime import Runtime, RuntimeDep, SessionDep, links, runtime_of

router = APIRouter()

ReadAccount = Annotated[Account, user_with("read:accounts", "profile")]
WriteAccount = Annotated[Account, user_with("write:accounts")]
ReadFollows = Annotated[Account, user_with("read:follows")]
WriteFollows = Annotated[Account, user_with("write:follows")]


class SignUp(Params):
    username: str = ""
    email: str = ""
    password: str = ""
    agreement: Annotated[bool, BeforeValidator(lambda v: v or False)] = False
    """An empty value is a refusal (ERR_ACCEPTED), not a malformed one."""
    locale: str = Field(default="en", max_length=16)
    reason: str | None = Field(default=None, max_length=1000)


@router.post("/api/v1/accounts")
async def sign_up(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    caller: Annotated[Caller, caller_with("write:accounts")],
    form: Annotated[SignUp, parsed(SignUp)],
) -> dict[str, Any]:
    account = await service.checked_register(
        session,
        runtime.settings,
        runtime.limiter,
        client_ip(request.scope, runtime.settings),
        username=form.username,
        email=form.email,
        password=form.password,
        agreement=form.agreement,
    )
    issued = await oauth.issue_token(
        session, caller.app_id, account.id, sorted(caller.scopes), runtime.settings.token_lifetime
    )
    return render.token(issued)


CREDENTIALS_CACHE_SECONDS = 60


@router.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(
    request: Request, account_id: Annotated[int, user_id_with("read:accounts", "profile")]
) -> Response:
    """The hottest read of all (every client calls it on start): served from the cache,
    which every change to the account evicts."""
    runtime, urls = runtime_of(request), links(request)
    field = f"credentials:{urls.base}"
    body = await runtime.cache.get(repository.account_key(account_id), field)
    if body is None:
        async with runtime.sessions() as session:
            account = await service.get_account(session, account_id)
        body = orjson.dumps(render.credential_account(account, urls))
        await runtime.cache.set(
            repository.account_key(account_id), field, body, CREDENTIALS_CACHE_SECONDS
        )
    return Response(body, media_type="application/json")


class ProfileForm(Params):
    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    avatar: UploadFile | None = None
    header: UploadFile | None = None
    privacy: str | None = Field(default=None, alias="source[privacy]")
    sensitive: bool | None = Field(default=None, alias="source[sensitive]")
    language: str | None = Field(default=None, alias="source[language]")


async def _process_image(
    runtime: Runtime, kind: Literal["avatar", "header"], upload: UploadFile | None
) -> media.ProfileImage | None:
    """The upload, checked and processed through the media pipeline; nothing stored yet."""
    if upload is None:
        return None
    limit = runtime.settings.avatar_size_limit
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The {kind} is larger than {limit} bytes")
    return await media.process_profile_image(runtime, data, kind)


@router.api_route("/api/v1/accounts/update_credentials", methods=["PATCH", "POST"])
async def update_credentials(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    me: WriteAccount,
    form: Annotated[ProfileForm, parsed(ProfileForm)],
) -> dict[str, Any]:
    changes = service.ProfileChanges(
        display_name=form.display_name,
        note=form.note,
        locked=form.locked,
        bot=form.bot,
        discoverable=form.discoverable,
        privacy=form.privacy,
        sensitive=form.sensitive,
        language=form.language,
    )
    service.check_profile(changes)
    # Files are written only once every other field has passed its checks.
    avatar = await _process_image(runtime, "avatar", form.avatar)
    header = await _process_image(runtime, "header", form.header)
    if avatar is not None:
        keys = await media.store_profile_image(runtime, avatar)
        changes = replace(
            changes, avatar_file=keys["avatar400"], avatar_small_file=keys["avatar80"]
        )
    if header is not None:
        keys = await media.store_profile_image(runtime, header)
        changes = replace(changes, header_file=keys["header"])
    await service.do_update_profile(session, me, changes)
    return render.credential_account(me, links(request))


class RelationshipsQuery(Params):
    id: StrList = Field(default_factory=list)


@router.get("/api/v1/accounts/relationships")
async def relationships(
    session: SessionDep,
    me: ReadFollows,
    query: Annotated[RelationshipsQuery, parsed(RelationshipsQuery)],
) -> list[dict[str, Any]]:
    ids = [int(raw) for raw in query.id if is_id(raw)]
    found = await service.existing_ids(session, ids)
    rels = await service.relationships(session, me.id, [i for i in ids if i in found])
    return [render.relationship(rel) for rel in rels]


class LookupQuery(Params):
    acct: str = Field(min_length=1, max_length=300)


@router.get("/api/v1/accounts/lookup")
async def lookup(
    request: Request, session: SessionDep, query: Annotated[LookupQuery, parsed(LookupQuery)]
) -> dict[str, Any]:
    domain = request.url.netloc
    account = await service.lookup(session, query.acct, domain)
    return render.account(account, links(request))


class SearchQuery(Params):
    q: str = Field(min_length=1, max_length=300)
    limit: int = Field(default=40, ge=1)
    offset: int = Field(default=0, ge=0, le=10_000)
    following: bool = False
    resolve: bool = False


@router.get("/api/v1/accounts/search")
async def search(
    request: Request,
    session: SessionDep,
    me: Annotated[Account, user_with("read:accounts")],
    query: Annotated[SearchQuery, parsed(SearchQuery)],
) -> list[dict[str, Any]]:
    found = await service.search(
        session,
        query.q,
        limit=min(query.limit, 80),
        offset=query.offset,
        viewer=me.id,
        following=query.following,
        local_domain=request.url.netloc,
    )
    urls = links(request)
    return [render.account(row, urls) for row in found]


@router.get("/api/v1/accounts/{account_id}")
async def get_account(
    request: Request, session: SessionDep, account_id: str, _: Any = optional_caller
) -> dict[str, Any]:
    account = await service.get_account(session, parse_id(account_id))
    return render.account(account, links(request))


async def _account_page(
    request: Request,
    response: Response,
    runtime: Runtime,
    session: SessionDep,
    kind: service.ListKind,
    account_id: int,
    page_params: PageParams,
) -> list[dict[str, Any]]:
    page = page_params.page(40)
    rows = await service.account_list(session, kind, account_id, page)
    link = link_header(
        request, runtime.settings.public_url, [edge for edge, _ in rows], page.limit, "since_id"
    )
    if link:
        response.headers["Link"] = link
    urls = links(request)
    return [render.account(account, urls) for _, account in rows]


@router.get("/api/v1/accounts/{account_id}/followers")
async def followers(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: str,
    page: Annotated[PageParams, parsed(PageParams)],
    _: Any = optional_caller,
) -> list[dict[str, Any]]:
    target = await service.get_account(session, parse_id(account_id))
    return await _account_page(request, response, runtime, session, "followers", target.id, page)


@router.get("/api/v1/accounts/{account_id}/following")
async def following(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: str,
    page: Annotated[PageParams, parsed(PageParams)],
    _: Any = optional_caller,
) -> list[dict[str, Any]]:
    target = await service.get_account(session, parse_id(account_id))
    return await _account_page(request, response, runtime, session, "following", target.id, page)


class FollowForm(Params):
    reblogs: bool = True
    notify: bool = False


@router.post("/api/v1/accounts/{account_id}/follow")
async def follow(
    session: SessionDep,
    me: WriteFollows,
    account_id: str,
    form: Annotated[FollowForm, parsed(FollowForm)],
) -> dict[str, Any]:
    rel = await service.follow(
        session, me, parse_id(account_id), reblogs=form.reblogs, notify=form.notify
    )
    return render.relationship(rel)


@router.post("/api/v1/accounts/{account_id}/unfollow")
async def unfollow(session: SessionDep, me: WriteFollows, account_id: str) -> dict[str, Any]:
    return render.relationship(await service.unfollow(session, me, parse_id(account_id)))


@router.post("/api/v1/accounts/{account_id}/remove_from_followers")
async def remove_from_followers(
    session: SessionDep, me: WriteFollows, account_id: str
) -> dict[str, Any]:
    rel = await service.remove_from_followers(session, me, parse_id(account_id))
    return render.relationship(rel)


@router.get("/api/v1/follow_requests")
async def follow_requests(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    me: ReadFollows,
    page: Annotated[PageParams, parsed(PageParams)],
) -> list[dict[str, Any]]:
    return await _account_page(request, response, runtime, session, "follow_requests", me.id, page)


@router.post("/api/v1/follow_requests/{account_id}/authorize")
async def authorize_follow_request(
    session: SessionDep, me: WriteFollows, account_id: str
) -> dict[str, Any]:
    rel = await service.answer_follow_request(session, me, parse_id(account_id), accept=True)
    return render.relationship(rel)


@router.post("/api/v1/follow_requests/{account_id}/reject")
async def reject_follow_request(
    session: SessionDep, me: WriteFollows, account_id: str
) -> dict[str, Any]:
    rel = await service.answer_follow_request(session, me, parse_id(account_id), accept=False)
    return render.relationship(rel)


@router.get("/api/v1/preferences")
async def preferences(me: ReadAccount) -> dict[str, Any]:
    return {
        "posting:default:visibility": me.default_privacy,
        "posting:default:sensitive": me.default_sensitive,
        "posting:default:language": me.default_language,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }

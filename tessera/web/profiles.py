"""Profiles (avatar, name, bio, counts, the photo grid), following, editing one's own
profile, and answering follow requests."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Request, UploadFile
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tessera import accounts, media, posts
from tessera.core.errors import NotFound, PayloadTooLarge, TesseraError
from tessera.core.pagination import PageParams
from tessera.core.params import Params, parse_id, parsed
from tessera.core.runtime import SessionDep, links, runtime_of
from tessera.web import pages
from tessera.web.errors import readable, wants_json, web_router
from tessera.web.session import OptionalViewer, Viewer, safe_next, signed_in

router = web_router()

GRID_PAGE = 12
REQUESTS_PAGE = 40

Follower = Annotated[Viewer, signed_in("write:follows")]
Editor = Annotated[Viewer, signed_in("write:accounts")]


async def _account(request: Request, db: SessionDep, username: str) -> dict[str, Any]:
    """The Account entity of a local username (404 if there is none)."""
    found = await accounts.ids_by_username(db, [username])
    account_id = found.get(username.lower())
    rendered = await accounts.render_accounts(
        db, [account_id] if account_id else [], links(request)
    )
    if account_id is None or account_id not in rendered:
        raise NotFound()
    return rendered[account_id]


async def _grid(
    request: Request,
    db: SessionDep,
    viewer: Viewer | None,
    account: dict[str, Any],
    cursor: PageParams,
) -> tuple[list[dict[str, Any]], int | None]:
    page = cursor.page(GRID_PAGE)
    read, statuses = await posts.account_gallery(
        db, viewer.account_id if viewer else None, int(account["id"]), page, links(request)
    )
    return statuses, read[-1] if len(read) >= page.limit else None


@router.get("/@{username}")
async def profile(
    request: Request,
    db: SessionDep,
    viewer: OptionalViewer,
    username: str,
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    account = await _account(request, db, username)
    own = viewer is not None and str(viewer.account_id) == account["id"]
    relationship = None
    if viewer is not None and not own:
        relationship = await accounts.relationship(db, viewer.account_id, int(account["id"]))
    statuses, next_id = await _grid(request, db, viewer, account, cursor)
    hidden = account["locked"] and not own and not (relationship and relationship["following"])
    return await pages.page(
        request,
        db,
        viewer,
        "profile.html",
        title=f"@{account['username']}",
        account=account,
        post_count=await posts.count_photo_posts(db, int(account["id"])),
        own=own,
        relationship=relationship,
        hidden=hidden,
        statuses=statuses,
        next_id=next_id,
    )


@router.get("/web/profile/{username}")
async def more_photos(
    request: Request,
    db: SessionDep,
    viewer: OptionalViewer,
    username: str,
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    """The next photos of the grid, for infinite scrolling."""
    account = await _account(request, db, username)
    statuses, next_id = await _grid(request, db, viewer, account, cursor)
    html = pages.fragment(
        "grid_page.html",
        request,
        viewer,
        statuses=statuses,
        next_id=next_id,
        more_href=f"/@{account['username']}",
        more_fragment=f"/web/profile/{account['username']}",
    )
    return pages.finish(request, HTMLResponse(html))


class NextForm(Params):
    next: str = ""


def _back(request: Request, target: str, body: dict[str, Any]) -> Response:
    if wants_json(request):
        return pages.finish(request, JSONResponse(body))
    return pages.finish(request, RedirectResponse(target, status_code=303))


@router.post("/@{username}/follow")
async def follow(
    request: Request,
    db: SessionDep,
    viewer: Follower,
    username: str,
    form: Annotated[NextForm, parsed(NextForm)],
) -> Response:
    """Follow, or (a private account) ask to."""
    account = await _account(request, db, username)
    relationship = await accounts.follow(db, viewer.account_id, int(account["id"]))
    return _back(request, safe_next(form.next, f"/@{account['username']}"), relationship)


@router.post("/@{username}/unfollow")
async def unfollow(
    request: Request,
    db: SessionDep,
    viewer: Follower,
    username: str,
    form: Annotated[NextForm, parsed(NextForm)],
) -> Response:
    """Stop following, or withdraw a request."""
    account = await _account(request, db, username)
    relationship = await accounts.unfollow(db, viewer.account_id, int(account["id"]))
    return _back(request, safe_next(form.next, f"/@{account['username']}"), relationship)


# -- editing one's profile -----------------------------------------------------------------


@router.get("/settings/profile")
async def settings_page(request: Request, db: SessionDep, viewer: Editor) -> Response:
    return await pages.page(
        request, db, viewer, "settings.html", title="Edit profile", error=None, saved=False
    )


class ProfileForm(Params):
    display_name: str = ""
    note: str = ""
    locked: bool = False
    avatar: UploadFile | None = None


@router.post("/settings/profile")
async def save_settings(
    request: Request,
    db: SessionDep,
    viewer: Editor,
    form: Annotated[ProfileForm, parsed(ProfileForm)],
) -> Response:
    """The form always sends every field (`locked` as a hidden 0 before the box), so
    what is unticked or emptied is changed too."""
    runtime = runtime_of(request)
    changes = accounts.ProfileChanges(
        display_name=form.display_name, note=form.note, locked=form.locked
    )
    try:
        accounts.check_profile(changes)
        # Like `update_credentials`: the avatar is stored only once the fields passed.
        if form.avatar is not None and form.avatar.filename:
            limit = runtime.settings.avatar_size_limit
            data = await form.avatar.read(limit + 1)
            if len(data) > limit:
                raise PayloadTooLarge(f"The profile picture is larger than {limit // 2**20} MB")
            image = await media.process_profile_image(runtime, data, "avatar")
            keys = await media.store_profile_image(runtime, image)
            changes = replace(
                changes, avatar_file=keys["avatar400"], avatar_small_file=keys["avatar80"]
            )
        await accounts.update_profile(db, viewer.account_id, changes)
    except TesseraError as error:
        if error.status_code not in (413, 422):
            raise
        return await pages.page(
            request,
            db,
            viewer,
            "settings.html",
            title="Edit profile",
            status=error.status_code,
            error=readable(error),
            saved=False,
        )
    me = await pages.me(request, db, viewer)
    return pages.finish(request, RedirectResponse(f"/@{me['username']}", status_code=303))


# -- follow requests ---------------------------------------------------------------------


@router.get("/follow_requests")
async def follow_requests(
    request: Request,
    db: SessionDep,
    viewer: Annotated[Viewer, signed_in("read:follows")],
    cursor: Annotated[PageParams, parsed(PageParams)],
) -> Response:
    page = cursor.page(REQUESTS_PAGE)
    rows = await accounts.follow_requests(db, viewer.account_id, page, links(request))
    return await pages.page(
        request,
        db,
        viewer,
        "follow_requests.html",
        title="Follow requests",
        requesters=[account for _, account in rows],
        next_id=rows[-1][0] if len(rows) >= page.limit else None,
    )


async def _answer(
    request: Request, db: SessionDep, viewer: Viewer, account_id: str, *, accept: bool
) -> Response:
    relationship = await accounts.answer_follow_request(
        db, viewer.account_id, parse_id(account_id), accept=accept
    )
    return _back(request, "/follow_requests", relationship)


@router.post("/follow_requests/{account_id}/authorize")
async def authorize(
    request: Request, db: SessionDep, viewer: Follower, account_id: str
) -> Response:
    return await _answer(request, db, viewer, account_id, accept=True)


@router.post("/follow_requests/{account_id}/reject")
async def reject(request: Request, db: SessionDep, viewer: Follower, account_id: str) -> Response:
    return await _answer(request, db, viewer, account_id, accept=False)

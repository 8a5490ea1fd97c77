"""A post's page (photos, caption, comments), liking, commenting, deleting, and making
a new post (uploads with progress, alt text, order, caption)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Request, UploadFile
from pydantic import Field
from starlette.responses import JSONResponse, RedirectResponse, Response

from tessera import interactions, media, posts
from tessera.core.errors import NotFound, PayloadTooLarge, TesseraError, ValidationFailed
from tessera.core.params import Params, StrList, is_id, parse_id, parsed
from tessera.core.runtime import SessionDep, links, runtime_of
from tessera.web import pages
from tessera.web.errors import readable, wants_json, web_router
from tessera.web.limits import PHOTOS_MAX, body_within, file_size
from tessera.web.session import OptionalViewer, Viewer, safe_next, signed_in

router = web_router()

Liker = Annotated[Viewer, signed_in("write:favourites")]
Writer = Annotated[Viewer, signed_in("write:statuses")]
Uploader = Annotated[Viewer, signed_in("write:media")]


class NextForm(Params):
    next: str = ""


def _back(request: Request, target: str, body: dict[str, Any] | None = None) -> Response:
    """Scripts get JSON; a plain form goes back to the page it came from."""
    if wants_json(request):
        return pages.finish(request, JSONResponse(body or {}))
    return pages.finish(request, RedirectResponse(target, status_code=303))


async def _status(request: Request, db: SessionDep, viewer_id: int | None, post_id: int) -> Any:
    """The post as the viewer sees it, through the posts service's visibility rules."""
    found = await posts.render_statuses(db, viewer_id, [post_id], links(request))
    if not found:
        raise NotFound()
    return found[0]


@router.get("/p/{post_id}")
async def post_page(
    request: Request, db: SessionDep, viewer: OptionalViewer, post_id: str
) -> Response:
    """Anyone may read a public post; a private account's only its approved followers
    (404 for everyone else, as the API answers)."""
    viewer_id = viewer.account_id if viewer else None
    status = await _status(request, db, viewer_id, parse_id(post_id))
    if status["in_reply_to_id"] is not None:  # a comment: show it under its post
        return pages.finish(
            request,
            RedirectResponse(f"/p/{status['in_reply_to_id']}#c-{status['id']}", status_code=303),
        )
    comments = await posts.comments_of(db, viewer_id, int(status["id"]), links(request))
    author = status["account"]["username"]
    return await pages.page(
        request,
        db,
        viewer,
        "post.html",
        title=f"Photo by @{author}",
        post=status,
        comments=comments,
    )


@router.get("/@{username}/{post_id}")
async def mastodon_post_url(username: str, post_id: str) -> Response:
    """Statuses' `url` (Mastodon's form) leads to the post's page."""
    return RedirectResponse(f"/p/{parse_id(post_id)}", status_code=301)


async def _like(
    request: Request, db: SessionDep, viewer: Viewer, post_id: str, form: NextForm, like: bool
) -> Response:
    post = parse_id(post_id)
    change = interactions.favourite if like else interactions.unfavourite
    await change(db, viewer.account_id, post)
    status = await _status(request, db, viewer.account_id, post)
    body = {"favourited": status["favourited"], "favourites_count": status["favourites_count"]}
    return _back(request, safe_next(form.next, f"/p/{post}"), body)


@router.post("/p/{post_id}/like")
async def like(
    request: Request,
    db: SessionDep,
    viewer: Liker,
    post_id: str,
    form: Annotated[NextForm, parsed(NextForm)],
) -> Response:
    return await _like(request, db, viewer, post_id, form, like=True)


@router.post("/p/{post_id}/unlike")
async def unlike(
    request: Request,
    db: SessionDep,
    viewer: Liker,
    post_id: str,
    form: Annotated[NextForm, parsed(NextForm)],
) -> Response:
    return await _like(request, db, viewer, post_id, form, like=False)


class CommentForm(Params):
    status: str = ""


@router.post("/p/{post_id}/comments")
async def comment(
    request: Request,
    db: SessionDep,
    viewer: Writer,
    post_id: str,
    form: Annotated[CommentForm, parsed(CommentForm)],
) -> Response:
    post = parse_id(post_id)
    comment_id = await posts.create_post(
        db,
        viewer.account_id,
        viewer.caller.app_id,
        caption=form.status,
        media_ids=[],
        in_reply_to_id=str(post),
        local_domain=urlsplit(links(request).base).netloc,
    )
    if not wants_json(request):
        return _back(request, f"/p/{post}#c-{comment_id}")
    [created] = await posts.render_statuses(db, viewer.account_id, [comment_id], links(request))
    parent = await _status(request, db, viewer.account_id, post)
    html = pages.fragment(
        "comment.html", request, viewer, c=created, post_author_id=parent["account"]["id"]
    )
    return _back(request, "", {"html": html, "replies_count": parent["replies_count"]})


@router.post("/p/{post_id}/delete")
async def delete(
    request: Request,
    db: SessionDep,
    viewer: Writer,
    post_id: str,
    form: Annotated[NextForm, parsed(NextForm)],
) -> Response:
    """The author deletes a post or comment; the post's author may delete the comments
    under it. Anyone else: 404."""
    parent = await posts.delete_post(
        db, runtime_of(request).storage, viewer.account_id, parse_id(post_id)
    )
    if parent is not None:
        return _back(request, safe_next(form.next, f"/p/{parent}"))
    me = await pages.me(request, db, viewer)
    return _back(request, f"/@{me['username']}")


# -- a new post ----------------------------------------------------------------------------


@router.get("/new")
async def new_post_page(request: Request, db: SessionDep, viewer: Writer) -> Response:
    settings = runtime_of(request).settings
    return await pages.page(
        request,
        db,
        viewer,
        "new.html",
        title="New post",
        media_max=PHOTOS_MAX,
        size_limit=settings.media_size_limit,
    )


class UploadForm(Params):
    file: UploadFile | None = None
    description: str = ""


def _refusal(name: str, error: TesseraError, size_limit: int) -> str:
    """Why a file was refused, naming the file."""
    if isinstance(error, PayloadTooLarge):
        return f"{name} is too large: each photo may be up to {file_size(size_limit)}."
    if isinstance(error, ValidationFailed) and error.details and "file" in error.details:
        return f"{name}: {error.details['file'][0]['description']}."
    return f"{name}: {readable(error)}"


async def _prepare(request: Request, upload: UploadFile, description: str) -> media.PreparedPhoto:
    settings = runtime_of(request).settings
    name = upload.filename or "This file"
    data = await upload.read(settings.media_size_limit + 1)
    try:
        return await media.prepare_photo(runtime_of(request), data, description)
    except TesseraError as error:
        refused = TesseraError(_refusal(name, error, settings.media_size_limit))
        refused.status_code = error.status_code
        raise refused from None


@router.post("/web/media", dependencies=[body_within(photos=1)])
async def upload(
    request: Request,
    db: SessionDep,
    viewer: Uploader,
    form: Annotated[UploadForm, parsed(UploadForm)],
) -> Response:
    """One photo from the new-post page's script (which shows the upload's progress):
    `{"id", "preview_url"}`, or `{"error": <why, naming the file>}`."""
    if form.file is None:
        raise ValidationFailed.one("file", "ERR_BLANK", "is missing: choose a photo")
    photo = await _prepare(request, form.file, form.description)
    saved = await media.save_photo(
        db, runtime_of(request), viewer.account_id, photo, form.description, links(request)
    )
    return pages.finish(
        request, JSONResponse({"id": saved["id"], "preview_url": saved["preview_url"]})
    )


class NewPostForm(Params):
    caption: str = ""
    media_ids: StrList = Field(default_factory=list)
    """Photos uploaded already (by the page's script), in the order to show them."""
    descriptions: StrList = Field(default_factory=list)
    """Alt text of each photo, in the same order."""
    photos: list[UploadFile] = Field(default_factory=list)
    """Without scripts, the photos come with the form."""


@router.post("/new")
async def publish(
    request: Request,
    db: SessionDep,
    viewer: Writer,
    form: Annotated[NewPostForm, parsed(NewPostForm)],
) -> Response:
    """Publish uploaded photos (alt text set first), or, from the form without scripts,
    photos sent with it: all are checked before any is stored."""
    runtime, urls = runtime_of(request), links(request)
    media_ids = list(form.media_ids)
    descriptions = [*form.descriptions, *[""] * PHOTOS_MAX]
    if form.photos and not media_ids:
        if len(form.photos) > PHOTOS_MAX:
            raise ValidationFailed.one("media_ids", "ERR_TOO_LONG", "are too many (at most 10)")
        prepared = [
            await _prepare(request, photo, descriptions[i]) for i, photo in enumerate(form.photos)
        ]
        media_ids = [
            (await media.save_photo(db, runtime, viewer.account_id, photo, descriptions[i], urls))[
                "id"
            ]
            for i, photo in enumerate(prepared)
        ]
    else:
        for media_id, description in zip(media_ids, descriptions, strict=False):
            if description and is_id(media_id):
                await media.describe(db, viewer.account_id, int(media_id), description)
    post_id = await posts.create_post(
        db,
        viewer.account_id,
        viewer.caller.app_id,
        caption=form.caption,
        media_ids=media_ids,
        in_reply_to_id=None,
        local_domain=urlsplit(urls.base).netloc,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    return _back(request, f"/p/{post_id}", {"url": f"/p/{post_id}"})

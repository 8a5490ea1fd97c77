"""Routes of the media service: upload, read and describe photos."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, UploadFile

from tessera.accounts import user_id_with
from tessera.core.errors import PayloadTooLarge, ValidationFailed
from tessera.core.params import Params, parse_id, parsed
from tessera.core.runtime import RuntimeDep, SessionDep, links
from tessera.media import render, service

router = APIRouter()

WriteMedia = Annotated[int, user_id_with("write:media")]
MULTIPART_OVERHEAD = 64 * 1024


class UploadForm(Params):
    file: UploadFile | None = None
    description: str = ""
    focus: str | None = None


class MediaForm(Params):
    description: str | None = None
    focus: str | None = None


async def _refuse_oversized(request: Request) -> None:
    """Answer 413 from the declared length, before the body is read at all."""
    declared = request.headers.get("content-length", "")
    limit = request.app.state.runtime.settings.media_size_limit
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"The file is larger than {limit} bytes")


@router.post("/api/v2/media", dependencies=[Depends(_refuse_oversized)])
@router.post("/api/v1/media", dependencies=[Depends(_refuse_oversized)])
async def upload(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: WriteMedia,
    form: Annotated[UploadForm, parsed(UploadForm)],
) -> dict[str, Any]:
    settings = runtime.settings
    if form.file is None:
        raise ValidationFailed.one("file", "ERR_BLANK", "can't be blank")
    focus = service.parse_focus(form.focus) or (0.0, 0.0)
    data = await form.file.read(settings.media_size_limit + 1)
    processed = await service.prepare_upload(settings, data, form.description, focus)
    media = await service.save_upload(
        session,
        runtime.storage,
        settings,
        account_id=account_id,
        processed=processed,
        description=form.description,
        focus=focus,
    )
    return render.media_attachment(media, links(request))


@router.get("/api/v1/media/{media_id}")
async def get_media(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: WriteMedia,
    media_id: str,
) -> dict[str, Any]:
    media = await service.own_media(session, account_id, parse_id(media_id))
    return render.media_attachment(media, links(request))


@router.put("/api/v1/media/{media_id}")
async def update_media(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    account_id: WriteMedia,
    media_id: str,
    form: Annotated[MediaForm, parsed(MediaForm)],
) -> dict[str, Any]:
    media = await service.own_unattached_media(session, account_id, parse_id(media_id))
    await service.update(
        session, media, description=form.description, focus=service.parse_focus(form.focus)
    )
    return render.media_attachment(media, links(request))

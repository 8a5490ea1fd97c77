"""Request parameters the Mastodon way: query, form, multipart or JSON, all alike.

Clients send `a[]=1&a[]=2` arrays, `'1'`/`'0'` booleans (inside JSON too), nested
`source[privacy]` keys, empty bodies with no content type, and junk fields. Routes
declare a pydantic model; `parsed(Model)` fills it from whatever arrived and turns
every mistake into a 4xx in Mastodon's shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from starlette.formparsers import MultiPartException

from tessera.core.errors import BadRequest, NotFound, ValidationFailed

__all__ = ["Params", "StrList", "is_id", "parse_id", "parsed", "read_params", "validate"]

M = TypeVar("M", bound=BaseModel)


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str | int) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]
"""A list field that also takes one bare value (`id=2` as well as `id[]=2&id[]=3`)."""


class Params(BaseModel):
    """Base for parameter models: unknown fields are ignored, names may carry brackets."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and prefix:
        for key, inner in value.items():
            _flatten(f"{prefix}[{key}]", inner, out)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _flatten(str(key), inner, out)
    elif isinstance(value, bool):
        out[prefix] = "1" if value else "0"
    elif isinstance(value, int | float):
        out[prefix] = str(value)
    else:
        out[prefix] = value


def _collect(items: list[tuple[str, Any]], out: dict[str, Any]) -> None:
    for key, value in items:
        if key.endswith("[]"):
            out.setdefault(key[:-2], [])
            if isinstance(out[key[:-2]], list):
                out[key[:-2]].append(value)
        else:
            out[key] = value


async def read_params(request: Request) -> dict[str, Any]:
    """The query string and the body, merged; the body wins on a clash."""
    params: dict[str, Any] = {}
    _collect(list(request.query_params.multi_items()), params)
    if request.method in {"GET", "HEAD"}:
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        if raw.strip():
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BadRequest("Malformed JSON in the request body") from None
            if not isinstance(data, dict):
                raise BadRequest("The JSON body must be an object")
            _flatten("", data, params)
    elif content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        try:
            form = await request.form()
        except (MultiPartException, ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"Malformed form body: {exc}") from None
        _collect(list(form.multi_items()), params)
    elif content_type and await request.body():
        raise BadRequest(f"Unsupported content type {content_type!r}")
    return params


def is_id(raw: str) -> bool:
    """Ids are decimal signed 64-bit integers (what the database columns hold)."""
    return raw.isdigit() and len(raw) <= 19 and int(raw) < 2**63


def parse_id(raw: str) -> int:
    """A path id; anything that is not one names no record."""
    if not is_id(raw):
        raise NotFound()
    return int(raw)


def _field_name(loc: tuple[int | str, ...]) -> str:
    return str(loc[0]) if loc else "request"


def validate(model: type[M], params: dict[str, Any]) -> M:
    """`model` filled from `params`, or a 422 naming each bad field."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        errors: dict[str, list[tuple[str, str]]] = {}
        for error in exc.errors(include_url=False):
            code = "ERR_BLANK" if error["type"] == "missing" else "ERR_INVALID"
            message = "can't be blank" if code == "ERR_BLANK" else error["msg"].lower()
            message = message.removeprefix("value error, ")
            errors.setdefault(_field_name(error["loc"]), []).append((code, message))
        raise ValidationFailed(errors) from None


def parsed(model: type[M]) -> Any:
    """A dependency that reads the request into `model`."""

    async def dependency(request: Request) -> AsyncIterator[M]:
        try:
            yield validate(model, await read_params(request))
        finally:
            # Uploaded files are spooled to temporary files; FastAPI closes only the
            # forms it parsed itself, so close ours once the route is done with them.
            await request.close()

    dependency.__name__ = f"parse_{model.__name__}"
    return Depends(dependency)

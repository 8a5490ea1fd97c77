"""Errors on web routes are pages, not Mastodon's JSON: a `TesseraError` becomes an HTML
page with its status (or, for the page's own scripts, `{"error": …}` they show as is),
and a page that needs a session sends the browser to the log-in page instead."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, RedirectResponse, Response

from tessera.core.errors import TesseraError, ValidationFailed
from tessera.web import pages
from tessera.web.session import LoginRequired, login_url

__all__ = [
    "WebRoute",
    "error_page",
    "field_error",
    "readable",
    "wants_json",
    "wants_page",
    "web_router",
]

TITLES = {
    400: "Something is wrong with this request",
    401: "Log in to continue",
    403: "You can't do that",
    404: "Page not found",
    409: "Something changed meanwhile",
    413: "That file is too large",
    422: "Something is wrong with what you sent",
    429: "Slow down",
    500: "Something went wrong on our side",
    503: "Tessera is unavailable right now",
}
HINTS = {
    404: "The link may be broken, or the page may have been removed, or it belongs to a "
    "private account you don't follow.",
    429: "Too many requests in a short time. Wait a few minutes, then try again.",
    500: "It's not you, it's us. Try again in a moment.",
    503: "Try again in a moment.",
}
FIELD_NAMES = {
    "username": "Username",
    "email": "E-mail address",
    "password": "Password",
    "agreement": "The server rules",
    "display_name": "Name",
    "note": "Bio",
    "status": "Text",
    "media_ids": "Photos",
    "file": "The photo",
    "description": "Alt text",
    "avatar": "The profile picture",
}


def field_error(field: str, description: str) -> str:
    """`Username is already taken.`; a description that is a sentence of its own (the
    media pipeline's) follows a colon."""
    name = FIELD_NAMES.get(field, field.replace("_", " ").capitalize())
    joined = f"{name}: {description}" if description[:1].isupper() else f"{name} {description}"
    return joined if joined.endswith(".") else joined + "."


def wants_json(request: Request) -> bool:
    """The page's own scripts ask for JSON; browsers following links and forms do not."""
    return "application/json" in request.headers.get("accept", "")


def readable(error: TesseraError) -> str:
    """The error as a sentence a person can act on (each bad field named plainly)."""
    if isinstance(error, ValidationFailed) and error.details:
        return " ".join(
            field_error(field, item["description"])
            for field, items in error.details.items()
            for item in items
        )
    if error.status_code in HINTS:
        return HINTS[error.status_code]
    return error.message if error.message.endswith(".") else error.message + "."


def wants_page(request: Request) -> bool:
    """A browser navigating outside the API: errors are pages for it, not JSON."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def error_page(
    request: Request,
    status: int,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The HTML page for an error status (JSON for the page's scripts)."""
    text = message or HINTS.get(status) or TITLES.get(status, "Something went wrong.")
    response: Response
    if wants_json(request):
        response = pages.finish(request, JSONResponse({"error": text}, status_code=status))
    else:
        title = TITLES.get(status, "Something went wrong")
        response = pages.plain_page(request, "error.html", title=title, status=status, message=text)
    response.headers.update(headers or {})
    return response


def _answer(request: Request, error: TesseraError) -> Response:
    if isinstance(error, LoginRequired) and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":  # after logging in, back to the page of the form
            referer = urlsplit(request.headers.get("referer", "/"))
            target = referer._replace(scheme="", netloc="", fragment="").geturl() or "/"
        return pages.finish(request, RedirectResponse(login_url(target), status_code=303))
    return error_page(request, error.status_code, readable(error), error.headers)


class WebRoute(APIRoute):
    """A route whose expected failures are answered as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except TesseraError as error:
                return _answer(request, error)

        return handle


def web_router() -> APIRouter:
    return APIRouter(route_class=WebRoute)

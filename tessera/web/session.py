"""Web sessions: the cookie holds an access token of the built-in first-party app.

So a web session is an OAuth token like any other: it is resolved through the same
cache, carries scopes, is revoked by logging out (or by any other revocation), and its
requests count against the same per-token budget as the API's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.responses import Response

from tessera import accounts
from tessera.core.errors import Forbidden, Unauthorized
from tessera.core.ratelimit import client_ip, token_budget_key
from tessera.core.runtime import act_for, runtime_of
from tessera.web import csrf

__all__ = [
    "OptionalViewer",
    "Viewer",
    "count_request",
    "end_session",
    "signed_in",
    "start_session",
]

COOKIE = "tessera_session"
COOKIE_AGE = 30 * 24 * 3600
"""How long the browser keeps the cookie; the token itself lives as the server's
`TESSERA_TOKEN_LIFETIME` says (until logged out, by default)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person behind a request."""

    account_id: int
    token: str
    caller: accounts.Caller


class LoginRequired(Unauthorized):
    """Raised for pages that need a session; answered with a redirect to the log-in page."""

    def __init__(self) -> None:
        super().__init__("Log in to continue")


async def _resolve(request: Request) -> Viewer | None:
    if getattr(request.state, "viewer_resolved", False):
        known: Viewer | None = request.state.viewer
        return known
    viewer = None
    token = request.cookies.get(COOKIE)
    if token:
        try:
            caller = await accounts.caller_for_token(runtime_of(request), token)
        except Unauthorized:
            request.state.stale_session = True  # revoked or expired: the answer drops it
        else:
            if caller.account_id is not None:
                viewer = Viewer(caller.account_id, token, caller)
                await act_for(request, caller.account_id)
    request.state.viewer, request.state.viewer_resolved = viewer, True
    return viewer


async def _optional(request: Request) -> Viewer | None:
    return await _resolve(request)


OptionalViewer = Annotated[Viewer | None, Depends(_optional)]
"""The signed-in person, or None."""


def signed_in(*any_of: str) -> Any:
    """A dependency: the signed-in person, whose token holds one of these scopes (the
    web app's own tokens hold them all; the check keeps the rule the API's)."""

    async def dependency(request: Request) -> Viewer:
        viewer = await _resolve(request)
        if viewer is None:
            raise LoginRequired()
        if any_of and not viewer.caller.allows(*any_of):
            raise Forbidden("This action is outside the authorized scopes")
        return viewer

    return Depends(dependency)


async def count_request(request: Request) -> None:
    """A dependency: count the request against the API budget of the session's token
    (the same key as that token's API requests), or of the client address; 429 beyond."""
    runtime = runtime_of(request)
    token = request.cookies.get(COOKIE)
    key = (
        token_budget_key(token.encode())
        if token
        else "ip:" + client_ip(request.scope, runtime.settings)
    )
    await runtime.limiter.enforce("api", key)


def start_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_AGE,
        httponly=True,
        samesite="lax",
        secure=csrf.secure(request),
        path="/",
    )


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, httponly=True, samesite="lax", secure=csrf.secure(request), path="/"
    )


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go to after a form (never another site: `//host` and `/\\host`
    are refused)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    return value

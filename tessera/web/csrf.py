"""CSRF protection: a signed double-submit token.

Each browser holds a random secret in an HttpOnly cookie; pages carry the secret signed
with the server's key (in forms as `csrf_token`, for scripts in a `<meta>` tag, sent
back as the `X-CSRF-Token` header). A state-changing request must bring a token whose
signature holds, younger than `MAX_AGE`, over the very secret its cookie holds. Another
site can make a browser send the cookie (SameSite=Lax stops most of that already) but
can neither read it nor forge the signature.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from tessera.core.errors import Forbidden
from tessera.core.ratelimit import forwarded_https
from tessera.core.runtime import runtime_of
from tessera.core.security import new_secret, sign, unsign

__all__ = ["FIELD", "HEADER", "check", "secure", "set_cookie", "token"]

COOKIE = "tessera_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
MAX_AGE = 24 * 3600
"""How long a page's token stays good: a form left open longer must be reloaded."""
COOKIE_AGE = 365 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _secret(request: Request) -> str:
    """This browser's secret: its cookie's, or a new one the answer will set."""
    known: str | None = request.cookies.get(COOKIE) or getattr(request.state, "csrf_new", None)
    if known is None:
        known = request.state.csrf_new = new_secret(16)
    return known


def token(request: Request) -> str:
    """The token for this browser's forms and scripts."""
    return sign(runtime_of(request).settings.signing_key, _secret(request))


def secure(request: Request) -> bool:
    """Whether cookies must be `Secure`: the client came over https (directly, or
    through a trusted proxy that says so)."""
    return forwarded_https(request.scope, runtime_of(request).settings)


def set_cookie(request: Request, response: Response) -> None:
    """Give the browser the secret its page's token was made from, if it is new."""
    fresh: str | None = getattr(request.state, "csrf_new", None)
    if fresh is not None:
        response.set_cookie(
            COOKIE,
            fresh,
            max_age=COOKIE_AGE,
            httponly=True,
            samesite="lax",
            secure=secure(request),
            path="/",
        )


async def check(request: Request) -> None:
    """A dependency: a request that may change something needs a good token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(FIELD)
            sent = value if isinstance(value, str) else None
    cookie = request.cookies.get(COOKIE)
    key = runtime_of(request).settings.signing_key
    if not cookie or not sent or unsign(key, sent, MAX_AGE) != cookie:
        raise Forbidden(
            "This form expired or was not sent from this site. Reload the page and try again."
        )

"""Rendering: the Jinja2 templates, their filters, and the headers every page carries."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse, Response

from tessera import accounts, notifications
from tessera.core.runtime import links
from tessera.web import csrf, session
from tessera.web.limits import file_size
from tessera.web.session import Viewer

__all__ = ["STATIC_DIR", "finish", "fragment", "me", "page", "plain_page", "relative_time"]

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
UNREAD_CAP = 100
"""The badge counts this far ("99+" beyond)."""


@cache
def static_url(name: str) -> str:
    """The file's URL with a hash of its content, so it can be cached for a year and
    still change with a new release."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def _parse(moment: str | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def relative_time(moment: str | datetime, now: datetime | None = None) -> str:
    """Instagram's short age of a post: `now`, `5 m`, `3 h`, `2 d`, `4 w`, then a date."""
    then = _parse(moment)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    if seconds < 60:
        return "now"
    for size, unit in ((7 * 86400, "w"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and not (unit == "w" and seconds >= 52 * size):
            return f"{seconds // size} {unit}"
    return f"{then.day} {then:%b %Y}"


def absolute_time(moment: str | datetime) -> str:
    then = _parse(moment)
    return f"{then.day} {then:%B %Y, %H:%M} UTC"


def _count(value: int, one: str, many: str) -> str:
    return f"{value:,} {one if value == 1 else many}"


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["ago"] = relative_time
_env.filters["when"] = absolute_time
_env.filters["count"] = _count
_env.filters["size"] = file_size
_env.globals["static"] = static_url


def fragment(template: str, request: Request, viewer: Viewer | None, **context: Any) -> str:
    """A piece of a page (more posts, a new comment) for scripts to insert."""
    return _env.get_template(template).render(
        request=request,
        csrf_token=csrf.token(request),
        viewer_id=str(viewer.account_id) if viewer else None,
        path=request.url.path,
        **context,
    )


async def me(request: Request, db: AsyncSession, viewer: Viewer) -> dict[str, Any]:
    """The viewer's own account, with `source` (plain-text bio, pending requests)."""
    return await accounts.credential_account(db, viewer.account_id, links(request))


def _security_headers(request: Request, response: Response, *, form_action: bool) -> None:
    """No framing (clickjacking), scripts and styles only from here, images from here
    and from where stored files are served (S3 or a CDN)."""
    files = urlsplit(links(request).media("x"))
    media_origin = f" {files.scheme}://{files.netloc}" if files.netloc else ""
    policy = [
        "default-src 'self'",
        f"img-src 'self' data: blob:{media_origin}",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "script-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    if form_action:
        # Not on the consent page: its answer redirects to the client app, which a
        # browser would hold to this rule too.
        policy.append("form-action 'self'")
    response.headers["Content-Security-Policy"] = "; ".join(policy)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def finish(request: Request, response: Response, *, form_action: bool = True) -> Response:
    """What every web answer carries: security headers, the CSRF cookie if new, and the
    removal of a session cookie whose token no longer works."""
    _security_headers(request, response, form_action=form_action)
    csrf.set_cookie(request, response)
    if getattr(request.state, "stale_session", False):
        session.end_session(request, response)
    return response


def plain_page(
    request: Request,
    template: str,
    *,
    title: str,
    status: int = 200,
    form_action: bool = True,
    **context: Any,
) -> HTMLResponse:
    """A page without the signed-in navigation (log-in, sign-up, errors)."""
    html = _env.get_template(template).render(
        request=request, title=title, csrf_token=csrf.token(request), me=None, **context
    )
    response = HTMLResponse(html, status)
    finish(request, response, form_action=form_action)
    return response


async def page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer | None,
    template: str,
    *,
    title: str,
    status: int = 200,
    form_action: bool = True,
    **context: Any,
) -> HTMLResponse:
    """A full page; with a viewer, the navigation shows their profile and the number of
    unread notifications."""
    own, unread = None, 0
    if viewer is not None:
        own = await me(request, db, viewer)
        unread = await notifications.unread_count(db, viewer.account_id, UNREAD_CAP)
    html = _env.get_template(template).render(
        request=request,
        title=title,
        csrf_token=csrf.token(request),
        me=own,
        viewer_id=str(viewer.account_id) if viewer else None,
        unread=unread,
        unread_cap=UNREAD_CAP,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status)
    finish(request, response, form_action=form_action)
    return response

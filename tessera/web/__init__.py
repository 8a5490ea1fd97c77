"""The web app: server-rendered pages with a little plain JavaScript, at `/`.

A client of the services, like any Mastodon app: it calls only their public interfaces
(an import-linter contract holds that), its sessions are OAuth tokens of a built-in
first-party app, and every page applies the services' own visibility rules.
"""

from fastapi import APIRouter, Depends

from tessera.web import auth, csrf, explore, feed, notifications, posts, profiles
from tessera.web.errors import error_page, wants_page
from tessera.web.limits import body_within
from tessera.web.pages import STATIC_DIR
from tessera.web.session import count_request

__all__ = ["STATIC_DIR", "error_page", "router", "wants_page"]

router = APIRouter()
"""Every web route: counted against the API budget, its body's size checked before it
is read, CSRF-checked when it may change anything, and answering errors with pages."""
for part in (auth, feed, posts, profiles, notifications, explore):
    router.include_router(
        part.router,
        dependencies=[Depends(count_request), body_within(), Depends(csrf.check)],
        include_in_schema=False,
    )

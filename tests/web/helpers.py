"""Shared steps of the web app's tests: browsers with their own cookies, forms sent as a
browser sends them (with the page's CSRF token), and what the pages show."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.accounts.helpers import BROWSING, csrf_of, sibling, web_log_in
from tests.conftest import User

PAGE = BROWSING
SCRIPT = {"Accept": "application/json"}
"""What the pages' own scripts send (the CSRF token goes in a header beside it)."""


async def token(browser: httpx.AsyncClient, path: str = "/") -> str:
    """Opens a page as the browser and returns its CSRF token."""
    page = await browser.get(path, headers=PAGE)
    assert page.status_code == 200, (page.status_code, page.text[:500])
    return csrf_of(page.text)


async def submit(
    browser: httpx.AsyncClient,
    page: str,
    action: str,
    data: dict[str, Any] | None = None,
    *,
    files: Any = None,
    script: bool = False,
) -> httpx.Response:
    """Opens `page` and sends a form from it to `action`, as the browser would (or, with
    `script`, as the page's script does: the token in a header, JSON asked back)."""
    csrf = await token(browser, page)
    if script:
        headers = {**SCRIPT, "X-CSRF-Token": csrf}
        return await browser.post(action, data=data or {}, files=files, headers=headers)
    fields = {"csrf_token": csrf, **(data or {})}
    return await browser.post(action, data=fields, files=files, headers=PAGE)


@asynccontextmanager
async def browser_of(
    client: httpx.AsyncClient, user: User | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (cookies, address), logged in as `user` if one is given."""
    async with sibling(client) as browser:
        if user is not None:
            answer = await web_log_in(browser, user.username, user.password)
            assert answer.status_code == 303, answer.text
        yield browser


_BLOCK = r"/?(?:p|div|li|ul|ol|br|h[1-6]|section|header|article|form|label|button|nav|main|title)\b"


def text_of(page: str) -> str:
    """The page's visible words, spaces collapsed, for `in` checks: block tags part
    words, inline ones (links, spans) do not."""
    page = re.sub(r"<(script|style|template)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(f"<{_BLOCK}[^>]*>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())

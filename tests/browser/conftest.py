"""The browser tests' harness: Debian's Chromium driven by Playwright, a real `tessera serve`
process on a backend of its own holding the demo, people who sign up through the pages,
and screenshots.

Playwright's own browsers cannot be downloaded here (and are never needed): the tests
launch /usr/bin/chromium, which `make test` installs with apt-get when it is missing.
Without it, the tests fail when `CI=true` and are skipped, loudly, elsewhere.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from tessera.core.config import load_settings
from tessera.demo import run_demo
from tests.conftest import BACKEND, Backend, MakeBackend
from tests.e2e.conftest import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: without these, Chromium keeps calling home.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (make system-packages installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required because CI=true)")
        print(f"\n{'!' * 78}\n!! SKIPPING THE BROWSER TESTS: {message}\n{'!' * 78}\n")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """Chromium, headless; Playwright gives it a fresh, empty profile directory."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="module")
async def demo_backend(make_backend: MakeBackend) -> AsyncIterator[Backend]:
    """A backend of its own holding the demo (run through the API, as `tessera demo`
    does): what a newcomer sees, and nothing the rest of the suite leaves behind."""
    async with make_backend() as backend:
        await run_demo(load_settings(**backend.settings_overrides))
        yield backend


@pytest.fixture(scope="module")
def site(demo_backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a `tessera serve` process on the demo backend."""
    with serving(demo_backend, tmp_path_factory.mktemp("browser") / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: `TESSERA_SCREENSHOTS`, else docs/screenshots for the
    embedded run (the set the README shows) and a temporary folder for the scaled one, so
    the two runs never overwrite each other's files."""
    chosen = os.environ.get("TESSERA_SCREENSHOTS")
    if chosen:
        folder = Path(chosen)
    elif BACKEND == "embedded":
        folder = SCREENSHOTS
    else:
        folder = tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Visitor:
    """One person at one browser: a context of its own (cookies, storage) and a tab."""

    context: BrowserContext
    page: Page


OpenVisitor = Callable[..., Awaitable[Visitor]]


@pytest.fixture
async def new_visitor(browser: Browser, site: str) -> AsyncIterator[OpenVisitor]:
    """Opens logged-out visitors on the site, at a phone's screen size unless told
    otherwise; they are all closed after the test."""
    opened: list[Visitor] = []

    async def open_visitor(viewport: ViewportSize = PHONE) -> Visitor:
        phone = viewport["width"] < 600
        context = await browser.new_context(
            base_url=site,
            viewport=viewport,
            is_mobile=phone,
            has_touch=phone,
            locale="en-GB",
            timezone_id="UTC",
        )
        visitor = Visitor(context, await context.new_page())
        opened.append(visitor)
        return visitor

    yield open_visitor
    for visitor in opened:
        await visitor.context.close()


def new_username(stem: str) -> str:
    return f"{stem}_{secrets.token_hex(3)}"


PASSWORD = "a long passphrase for the browser"


async def sign_up(visitor: Visitor, username: str) -> None:
    """Sign up through the page, as a newcomer does; they land on their (empty) feed."""
    page = visitor.page
    await page.goto("/signup")
    await page.get_by_label("E-mail address").fill(f"{username}@example.org")
    await page.get_by_label("Username", exact=True).fill(username)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("link", name="New post")).to_be_visible()


async def log_in(visitor: Visitor, username: str, password: str) -> None:
    page = visitor.page
    await page.goto("/login")
    await page.get_by_label("Username or e-mail address").fill(username)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("link", name="New post")).to_be_visible()


async def reload_until_visible(page: Page, path: str, target: Locator, within: float = 15) -> None:
    """Open `path` again until `target` shows: for what an event handler adds a moment
    after the request that caused it (a follow's posts in the follower's feed)."""
    deadline = time.monotonic() + within
    while True:
        await page.goto(path)
        try:
            await expect(target).to_be_visible(timeout=1000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise

"""The web app in a real browser: two people meet through a post, and the pages the
README shows, at a phone's and a desktop's width."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import pyvips
from playwright.async_api import FilePayload, Locator, Page, ViewportSize, expect

from tessera.demo import DEMO_PASSWORD, POSTS, Photo, photo_bytes
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    OpenVisitor,
    log_in,
    new_username,
    reload_until_visible,
    sign_up,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

THREE_MOODS = next(post for post in POSTS if post.author == "theo" and len(post.photos) == 3)
"""A demo post of three photos: what the author uploads, and the post in the screenshots."""
PIXEL_NOISE = 16
"""Largest difference in any channel of any pixel between two screenshots of one page."""


def files(photos: tuple[Photo, ...]) -> list[FilePayload]:
    return [
        {"name": f"photo-{number}.jpg", "mimeType": "image/jpeg", "buffer": photo_bytes(photo)}
        for number, photo in enumerate(photos, 1)
    ]


def notifications_link(page: Page, unread: int) -> Locator:
    """The navigation's link to the notifications, named as a screen reader says it."""
    return page.get_by_role("link", name=re.compile(rf"^Notifications\s*{unread}\s*unread$"))


async def test_two_people_share_a_post(new_visitor: OpenVisitor) -> None:
    author, friend = await new_visitor(PHONE), await new_visitor(DESKTOP)
    author_name, friend_name = new_username("author"), new_username("friend")
    await sign_up(author, author_name)
    await sign_up(friend, friend_name)

    # The author chooses three photos, describes each one, writes a caption and shares.
    page = author.page
    await page.goto("/new")
    await page.get_by_label("Choose photos").set_input_files(files(THREE_MOODS.photos))
    await expect(page.get_by_role("progressbar", name="Upload progress")).to_have_attribute(
        "value", "100"
    )
    await expect(page.get_by_text("All photos uploaded")).to_be_visible()
    alts = [photo.alt for photo in THREE_MOODS.photos]
    for number, alt in enumerate(alts, 1):
        await page.get_by_label(f"Alt text for photo {number}").fill(alt)
    await page.get_by_label("Caption").fill(f"Three moods, for @{friend_name} #cats")
    # The post's page opens the live stream of notifications: wait until it is open, so
    # that what happens next cannot slip in before it.
    async with page.expect_response(re.compile(r"/web/streaming$")) as stream:
        await page.get_by_role("button", name="Share").click()
        await expect(page).to_have_url(re.compile(r"/p/\d+$"))
    assert (await stream.value).ok
    post_path = urlsplit(page.url).path
    for alt in alts:
        await expect(page.get_by_role("img", name=alt)).to_be_attached()
    await expect(page.get_by_role("link", name=f"@{friend_name}")).to_be_visible()
    await expect(page.get_by_role("link", name="#cats")).to_be_visible()
    no_news = page.get_by_role("link", name="Notifications", exact=True)  # no badge
    await expect(no_news).to_be_visible()
    # The author stays on this page: the badge below must change without a reload.

    # The friend follows the author, finds the post in the feed and likes it by
    # double-clicking the photo.
    mate = friend.page
    await mate.goto(f"/@{author_name}")
    await mate.get_by_role("button", name="Follow").click()
    await expect(mate.get_by_role("button", name="Unfollow")).to_be_visible()
    await expect(notifications_link(page, 1)).to_be_visible()
    card = mate.get_by_role("article", name=author_name)
    await reload_until_visible(mate, "/", card)
    first_photo = card.get_by_role("img", name=alts[0])
    await expect(first_photo).to_be_in_viewport()
    await card.get_by_role("button", name="Next photo").click()
    await expect(card.get_by_role("img", name=alts[1])).to_be_in_viewport()
    await card.get_by_role("button", name="Previous photo").click()
    await first_photo.dblclick()
    await expect(card.get_by_role("button", name="Like")).to_have_attribute("aria-pressed", "true")
    await expect(card.get_by_text("1 like", exact=True)).to_be_visible()
    await expect(notifications_link(page, 2)).to_be_visible()

    # …and comments on the post's page.
    await card.get_by_role("link", name="Comment").click()
    await expect(mate).to_have_url(re.compile(re.escape(post_path)))
    await mate.get_by_label("Add a comment").fill("Very suspicious is the best one")
    await mate.get_by_role("button", name="Post").click()
    comments = mate.get_by_role("list", name="Comments")
    await expect(comments.get_by_text("Very suspicious is the best one")).to_be_visible()
    await expect(notifications_link(page, 3)).to_be_visible()

    # The author reads what happened.
    await notifications_link(page, 3).click()
    items = page.get_by_role("main").get_by_role("listitem")
    await expect(items.filter(has_text="started following you")).to_have_count(1)
    await expect(items.filter(has_text="liked your photo")).to_have_count(1)
    await expect(items.filter(has_text="commented on your post")).to_have_count(1)
    await expect(no_news).to_be_visible()  # read now

    # The friend logs out: the feed asks for a log-in again.
    await mate.goto(f"/@{friend_name}")
    await mate.get_by_role("button", name="Log out").click()
    await expect(mate.get_by_role("button", name="Log in")).to_be_visible()
    await mate.goto("/")
    await expect(mate).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))


def _demo_post_path(site: str, username: str, photo_count: int) -> str:
    """The page of the user's newest demo post with that many photos, found through the
    public API."""
    with httpx.Client(base_url=site) as api:
        account = api.get("/api/v1/accounts/lookup", params={"acct": username}).json()
        statuses = api.get(
            f"/api/v1/accounts/{account['id']}/statuses", params={"only_media": "true"}
        ).json()
    post = next(s for s in statuses if len(s["media_attachments"]) == photo_count)
    return f"/p/{post['id']}"


async def _shoot(page: Page, folder: Path, name: str) -> None:
    """A screenshot of what the screen shows, once every photo on it has loaded; an
    existing file is kept when it shows the same picture."""
    await page.wait_for_function(
        """() => [...document.images]
            .filter((img) => img.getBoundingClientRect().top < innerHeight)
            .every((img) => img.complete && img.naturalWidth > 0)"""
    )
    shot = await page.screenshot(animations="disabled", caret="hide")
    path = folder / f"{name}.png"
    if not _same_picture(path, shot):
        path.write_bytes(shot)


def _same_picture(saved: Path, shot: bytes) -> bool:
    """Whether `shot` shows what the saved file shows. Chromium scales photos a few levels
    differently from run to run: no reason to give git a new file each time."""
    if not saved.exists():
        return False
    old, new = pyvips.Image.new_from_file(str(saved)), pyvips.Image.new_from_buffer(shot, "")
    if (old.width, old.height, old.bands) != (new.width, new.height, new.bands):
        return False
    return bool((old - new).abs().max() <= PIXEL_NOISE)


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
async def test_screenshots(
    new_visitor: OpenVisitor, site: str, screenshots: Path, size: str, viewport: ViewportSize
) -> None:
    """Mira, from the demo, looks around: her feed, a post, a friend's profile, and a
    new post she is about to share."""
    mira = await new_visitor(viewport)
    page = mira.page
    await log_in(mira, "mira", DEMO_PASSWORD)

    await page.goto("/")
    await expect(page.get_by_role("article").first).to_be_visible()
    await _shoot(page, screenshots, f"feed-{size}")

    await page.goto(_demo_post_path(site, "theo", len(THREE_MOODS.photos)))
    await expect(page.get_by_role("img", name=THREE_MOODS.photos[0].alt)).to_be_visible()
    await expect(
        page.get_by_role("list", name="Comments").get_by_role("listitem")
    ).not_to_have_count(0)
    await _shoot(page, screenshots, f"post-{size}")

    await page.goto("/@theo")
    await expect(page.get_by_role("heading", name="theo")).to_be_visible()
    await expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
    await _shoot(page, screenshots, f"profile-{size}")

    await page.goto("/new")
    coffee = next(post for post in POSTS if post.author == "june" and len(post.photos) == 2)
    await page.get_by_label("Choose photos").set_input_files(files(coffee.photos))
    await expect(page.get_by_text("All photos uploaded")).to_be_visible()
    for number, photo in enumerate(coffee.photos, 1):
        await page.get_by_label(f"Alt text for photo {number}").fill(photo.alt)
    await page.get_by_label("Caption").fill("Morning at @june's café #coffee")
    await _shoot(page, screenshots, f"new-{size}")

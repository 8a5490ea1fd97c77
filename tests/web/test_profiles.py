"""Profiles, following, private accounts and their follow requests, editing one's
profile, and notifications."""

from __future__ import annotations

import re

import httpx

from tests.accounts.helpers import me
from tests.conftest import MakeUser, User
from tests.feed.helpers import settle
from tests.posts.helpers import comment, photo, publish
from tests.web.helpers import PAGE, browser_of, submit, text_of


def _grid(page: str) -> list[str]:
    """The post ids of a profile's photo grid, in order."""
    grid = page.split('<ul class="grid"', 1)
    return re.findall(r'<li>\s*<a href="/p/(\d+)"', grid[1]) if len(grid) > 1 else []


def _badge(page: str) -> int:
    found = re.search(r'id="unread-badge"[^>]*data-count="(\d+)"', page)
    assert found
    return int(found.group(1))


async def _lock(client: httpx.AsyncClient, user: User) -> None:
    answer = await client.patch(
        "/api/v1/accounts/update_credentials", headers=user.auth, data={"locked": "1"}
    )
    assert answer.status_code == 200, answer.text


async def test_a_profile_shows_who_it_is_their_counts_and_photo_grid(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, visitor = await make_user("owner"), await make_user("visitor")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=owner.auth,
        data={"display_name": "Olive Owner", "note": "Cats & <dogs>"},
    )
    posts = [await publish(client, owner, f"Grid {n}", photos=1 + n % 2) for n in range(3)]
    await comment(client, owner, posts[0]["id"], "comments stay off the grid")
    async with browser_of(client, visitor) as browser:
        page = await browser.get(f"/@{owner.username}", headers=PAGE)
        assert page.status_code == 200
        assert f"<title>@{owner.username} • Tessera</title>" in page.text
        assert f'alt="@{owner.username}\'s profile picture"' in page.text
        words = text_of(page.text)
        assert "Olive Owner" in words
        assert "Cats & <dogs>" in words
        assert "3 posts 0 followers 0 following" in words  # photo posts; the comment is not one
        assert _grid(page.text) == [post["id"] for post in reversed(posts)]
        assert f'alt="Photo by @{owner.username}"' in page.text
        assert ">Follow</button>" in page.text
        # Anyone may look, signed in or not.
        async with browser_of(client) as anonymous:
            public = await anonymous.get(f"/@{owner.username}", headers=PAGE)
            assert _grid(public.text) == _grid(page.text)
            assert f'href="/login?next=/@{owner.username}"' in public.text


async def test_follow_and_unfollow_from_the_profile(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    star, fan = await make_user("star"), await make_user("fan")
    async with browser_of(client, fan) as browser:
        followed = await submit(browser, f"/@{star.username}", f"/@{star.username}/follow")
        assert followed.status_code == 303
        assert followed.headers["location"] == f"/@{star.username}"
        page = await browser.get(f"/@{star.username}", headers=PAGE)
        assert ">Unfollow</button>" in page.text
        assert "1 follower" in text_of(page.text)
        assert (await me(client, star.token)).json()["followers_count"] == 1
        unfollowed = await submit(browser, f"/@{star.username}", f"/@{star.username}/unfollow")
        assert unfollowed.status_code == 303
        assert (await me(client, star.token)).json()["followers_count"] == 0
        own = await browser.get(f"/@{fan.username}", headers=PAGE)
        assert "Edit profile" in own.text
        assert ">Follow</button>" not in own.text
        refused = await submit(browser, f"/@{fan.username}", f"/@{fan.username}/follow")
        assert refused.status_code == 403
        assert "You cannot follow yourself." in text_of(refused.text)


async def test_a_private_account_shows_no_photos_until_its_request_is_confirmed(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    private, asker, other = (
        await make_user("private"),
        await make_user("asker"),
        await make_user("other"),
    )
    await _lock(client, private)
    post = await publish(client, private, "For followers only")
    async with browser_of(client, asker) as browser:
        page = await browser.get(f"/@{private.username}", headers=PAGE)
        assert _grid(page.text) == []
        assert "This account is private" in text_of(page.text)
        assert post["media_attachments"][0]["url"] not in page.text
        assert (await browser.get(f"/p/{post['id']}", headers=PAGE)).status_code == 404

        asked = await submit(browser, f"/@{private.username}", f"/@{private.username}/follow")
        assert asked.status_code == 303
        page = await browser.get(f"/@{private.username}", headers=PAGE)
        assert ">Requested</button>" in page.text
        assert _grid(page.text) == []

    async with browser_of(client, other) as browser:
        await submit(browser, f"/@{private.username}", f"/@{private.username}/follow")

    async with browser_of(client, private) as browser:
        own = await browser.get(f"/@{private.username}", headers=PAGE)
        assert "Follow requests (2)" in text_of(own.text)
        requests = await browser.get("/follow_requests", headers=PAGE)
        assert "<title>Follow requests • Tessera</title>" in requests.text
        words = text_of(requests.text)
        assert asker.username in words
        assert other.username in words
        confirmed = await submit(
            browser, "/follow_requests", f"/follow_requests/{asker.id}/authorize"
        )
        assert confirmed.status_code == 303
        assert confirmed.headers["location"] == "/follow_requests"
        deleted = await submit(browser, "/follow_requests", f"/follow_requests/{other.id}/reject")
        assert deleted.status_code == 303
        empty = await browser.get("/follow_requests", headers=PAGE)
        assert "No follow requests" in text_of(empty.text)
        again = await submit(browser, "/follow_requests", f"/follow_requests/{other.id}/reject")
        assert again.status_code == 404

    async with browser_of(client, asker) as browser:
        page = await browser.get(f"/@{private.username}", headers=PAGE)
        assert _grid(page.text) == [post["id"]]
        assert (await browser.get(f"/p/{post['id']}", headers=PAGE)).status_code == 200
    async with browser_of(client, other) as browser:
        page = await browser.get(f"/@{private.username}", headers=PAGE)
        assert _grid(page.text) == []
        assert ">Follow</button>" in page.text


async def test_edit_profile_with_avatar_and_the_private_switch(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("editor")
    async with browser_of(client, user) as browser:
        page = await browser.get("/settings/profile", headers=PAGE)
        assert '<label for="locked">Private account</label>' in page.text
        saved = await submit(
            browser,
            "/settings/profile",
            "/settings/profile",
            {"display_name": "Eddie", "note": "Line one\n\nLine two", "locked": ["0", "1"]},
            files={"avatar": ("me.png", photo(200, 200), "image/png")},
        )
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"/@{user.username}"
        account = (await me(client, user.token)).json()
        assert account["display_name"] == "Eddie"
        assert account["source"]["note"] == "Line one\n\nLine two"
        assert account["locked"] is True
        assert "/avatars/missing.png" not in account["avatar"]
        # An unticked box (only the hidden 0 is sent) unlocks; no new avatar keeps the old.
        unlocked = await submit(
            browser,
            "/settings/profile",
            "/settings/profile",
            {"display_name": "Eddie", "note": "", "locked": "0"},
        )
        assert unlocked.status_code == 303, unlocked.text
        after = (await me(client, user.token)).json()
        assert after["locked"] is False
        assert after["avatar"] == account["avatar"]
        refused = await submit(
            browser,
            "/settings/profile",
            "/settings/profile",
            {"display_name": "x" * 31, "note": "", "locked": "0"},
        )
        assert refused.status_code == 422
        assert "Name is too long (maximum is 30 characters)." in text_of(refused.text)
        bad_image = await submit(
            browser,
            "/settings/profile",
            "/settings/profile",
            {"display_name": "Eddie", "locked": "0"},
            files={"avatar": ("me.txt", b"not an image", "text/plain")},
        )
        assert bad_image.status_code == 422
        assert "The profile picture: The file is not a JPEG" in text_of(bad_image.text)
    assert (await me(client, user.token)).json()["display_name"] == "Eddie"


async def test_notifications_are_listed_and_reading_them_clears_the_badge(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("noticed"), await make_user("noticer")
    post = await publish(client, author, "Notice me")
    await client.post(f"/api/v1/accounts/{author.id}/follow", headers=fan.auth)
    await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=fan.auth)
    await comment(client, fan, post["id"], "Lovely")
    await settle(client)  # notifications are made by event handlers, after the commit
    async with browser_of(client, author) as browser:
        home = await browser.get("/", headers=PAGE)
        assert _badge(home.text) == 3
        assert "3 unread" in text_of(home.text)
        page = await browser.get("/notifications", headers=PAGE)
        assert "<title>Notifications • Tessera</title>" in page.text
        words = text_of(page.text)
        assert f"{fan.username} started following you." in words
        assert f"{fan.username} liked your photo." in words
        assert f"{fan.username} commented on your post: Lovely" in words
        assert _badge(page.text) == 0
        assert _badge((await browser.get("/", headers=PAGE)).text) == 0
    async with browser_of(client, fan) as browser:
        empty = await browser.get("/notifications", headers=PAGE)
        assert "you'll see it here" in text_of(empty.text)

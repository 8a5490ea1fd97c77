"""The feed, a post's page, likes, comments, deleting, and making a post."""

from __future__ import annotations

import re
import secrets

import httpx

from tests.conftest import AppFactory, MakeUser, StoredKeys, User, unique_name
from tests.feed.helpers import settle
from tests.media.helpers import media_count
from tests.posts.helpers import comment, photo, publish
from tests.web.helpers import PAGE, SCRIPT, browser_of, submit, text_of, token


async def _follow(client: httpx.AsyncClient, user: User, target: User) -> None:
    answer = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=user.auth)
    assert answer.status_code == 200, answer.text


async def _status(client: httpx.AsyncClient, user: User, post_id: str) -> dict[str, object]:
    answer = await client.get(f"/api/v1/statuses/{post_id}", headers=user.auth)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _cards(page: str) -> list[str]:
    """The post ids of the feed's cards, in order."""
    return re.findall(r'<article class="post-card" id="post-(\d+)"', page)


async def test_the_feed_shows_followed_peoples_posts_newest_first_and_pages_on(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    reader, friend, stranger = (
        await make_user("reader"),
        await make_user("friend"),
        await make_user("stranger"),
    )
    await _follow(client, reader, friend)
    hidden = await publish(client, stranger, "Not followed")
    posts = [
        await publish(client, friend, f"Photo {n} #tag{n} with @{reader.username}", photos=2)
        for n in range(12)
    ]
    await settle(client)  # the fan-out to followers' feeds runs after each commit
    async with browser_of(client, reader) as browser:
        home = await browser.get("/", headers=PAGE)
        assert home.status_code == 200
        first = _cards(home.text)
        assert first == [post["id"] for post in reversed(posts)][:10]
        assert hidden["id"] not in first
        newest = posts[-1]
        # A card: author, photos (placeholders, alt text, carousel), like, counts, time.
        assert f'href="/@{friend.username}"' in home.text
        assert f'alt="Photo by @{friend.username}, 1 of 2"' in home.text
        assert f'data-blurhash="{newest["media_attachments"][0]["blurhash"]}"' in home.text
        assert 'aria-label="Next photo"' in home.text
        assert 'aria-label="Like" aria-pressed="false"' in home.text
        assert "0 likes" in text_of(home.text)
        assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">now</time>', home.text)
        # Captions link their hashtags and mentions.
        assert 'class="mention hashtag" rel="tag">#<span>tag11</span>' in home.text
        assert f'class="u-url mention">@<span>{reader.username}</span>' in home.text
        # Infinite scroll: a fragment of the next posts, and a plain link without scripts.
        more = re.search(r'data-fragment="(/web/feed\?max_id=\d+)"', home.text)
        assert more
        assert f'href="/?max_id={first[-1]}"' in home.text
        rest = await browser.get(more.group(1))
        assert rest.status_code == 200
        assert "<html" not in rest.text
        assert _cards(rest.text) == [posts[1]["id"], posts[0]["id"]]
        assert "data-fragment" not in rest.text  # the end
        no_script = await browser.get(f"/?max_id={first[-1]}", headers=PAGE)
        assert _cards(no_script.text) == [posts[1]["id"], posts[0]["id"]]


async def test_a_post_page_shows_photos_caption_comments_and_counts(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("author"), await make_user("fan")
    post = await publish(client, author, "Sunset over #Lyon", photos=3)
    await comment(client, fan, post["id"], "Gorgeous <b>light</b>!")
    await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=fan.auth)
    async with browser_of(client, fan) as browser:
        page = await browser.get(f"/p/{post['id']}", headers=PAGE)
    assert page.status_code == 200
    assert f"<title>Photo by @{author.username} • Tessera</title>" in page.text
    words = text_of(page.text)
    assert "Sunset over #Lyon" in words
    assert "Gorgeous <b>light</b>!" in words  # shown as text, never as markup
    assert "<b>light</b>" not in page.text
    assert "1 like" in words
    assert page.text.count('class="slide"') == 3
    assert '<label for="comment" class="visually-hidden">Add a comment</label>' in page.text
    assert ">Post</button>" in page.text
    # Only the author sees the post's delete menu.
    assert "Delete post" not in page.text
    assert 'aria-label="Like" aria-pressed="true"' in page.text
    # A comment's own address leads to the post, at the comment.
    [reply] = (await client.get(f"/api/v1/statuses/{post['id']}/context", headers=fan.auth)).json()[
        "descendants"
    ]
    async with browser_of(client, fan) as browser:
        at = await browser.get(f"/p/{reply['id']}", headers=PAGE)
        assert at.headers["location"] == f"/p/{post['id']}#c-{reply['id']}"
        # Mastodon's status URLs work too.
        old = await browser.get(f"/@{author.username}/{post['id']}", headers=PAGE)
        assert old.headers["location"] == f"/p/{post['id']}"


async def test_like_and_unlike_with_the_form_and_from_a_script(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("liked"), await make_user("liker")
    post = await publish(client, author, "Like me")
    async with browser_of(client, fan) as browser:
        liked = await submit(
            browser, "/", f"/p/{post['id']}/like", {"next": f"/#post-{post['id']}"}
        )
        assert liked.status_code == 303
        assert liked.headers["location"] == f"/#post-{post['id']}"
        assert (await _status(client, fan, post["id"]))["favourited"] is True
        page = await browser.get(f"/p/{post['id']}", headers=PAGE)
        assert 'aria-label="Like" aria-pressed="true"' in page.text
        assert f'action="/p/{post["id"]}/unlike"' in page.text

        unliked = await submit(browser, "/", f"/p/{post['id']}/unlike", script=True)
        assert unliked.status_code == 200
        assert unliked.json() == {"favourited": False, "favourites_count": 0}
        again = await submit(browser, "/", f"/p/{post['id']}/like", script=True)
        assert again.json() == {"favourited": True, "favourites_count": 1}
        twice = await submit(browser, "/", f"/p/{post['id']}/like", script=True)
        assert twice.json() == {"favourited": True, "favourites_count": 1}
        # A post one may not see cannot be liked: a 404 page, or JSON for a script.
        missing = await submit(browser, "/", "/p/1234567/like")
        assert missing.status_code == 404
        assert "Page not found" in missing.text
        scripted = await submit(browser, "/", "/p/1234567/like", script=True)
        assert scripted.status_code == 404
        assert "error" in scripted.json()
    assert (await _status(client, author, post["id"]))["favourites_count"] == 1


async def test_comments_from_the_form_and_from_a_script(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan = await make_user("commented"), await make_user("commenter")
    post = await publish(client, author, "Talk to me")
    async with browser_of(client, fan) as browser:
        posted = await submit(
            browser, f"/p/{post['id']}", f"/p/{post['id']}/comments", {"status": "First!"}
        )
        assert posted.status_code == 303
        assert posted.headers["location"].startswith(f"/p/{post['id']}#c-")
        scripted = await submit(
            browser,
            f"/p/{post['id']}",
            f"/p/{post['id']}/comments",
            {"status": f"Second, @{author.username}"},
            script=True,
        )
        assert scripted.status_code == 200
        body = scripted.json()
        assert body["replies_count"] == 2
        assert body["html"].startswith('<li class="comment" id="c-')
        assert "Second," in body["html"]
        assert f'class="u-url mention">@<span>{author.username}</span>' in body["html"]
        assert "Delete comment" in body["html"]  # one's own
        empty = await submit(
            browser, f"/p/{post['id']}", f"/p/{post['id']}/comments", {"status": "  "}, script=True
        )
        assert empty.status_code == 422
        assert empty.json() == {"error": "Text can't be blank."}
        page = await browser.get(f"/p/{post['id']}", headers=PAGE)
    words = text_of(page.text)
    assert "First!" in words
    assert f"Second, @{author.username}" in words
    assert (await _status(client, author, post["id"]))["replies_count"] == 2
    async with browser_of(client, author) as browser:
        feed_card = await browser.get("/", headers=PAGE)
        assert "View all 2 comments" in text_of(feed_card.text)


async def test_only_the_author_deletes_a_post_and_comments_go_with_the_posts_author(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author, fan, other = (
        await make_user("deleter"),
        await make_user("bystander"),
        await make_user("other"),
    )
    post = await publish(client, author, "Short-lived")
    fans_comment = await comment(client, fan, post["id"], "Mine")
    others_comment = await comment(client, other, post["id"], "Theirs")
    async with browser_of(client, fan) as browser:
        page = await browser.get(f"/p/{post['id']}", headers=PAGE)
        assert page.text.count("Delete comment") == 1  # only the fan's own comment
        refused = await submit(browser, f"/p/{post['id']}", f"/p/{post['id']}/delete")
        assert refused.status_code == 404
        assert (await _status(client, author, post["id"]))["id"] == post["id"]
        removed = await submit(
            browser, f"/p/{post['id']}", f"/p/{fans_comment['id']}/delete", script=True
        )
        assert removed.status_code == 200
    async with browser_of(client, author) as browser:
        page = await browser.get(f"/p/{post['id']}", headers=PAGE)
        assert "Delete post" in page.text
        assert page.text.count("Delete comment") == 1  # the author moderates the rest
        gone = await submit(browser, f"/p/{post['id']}", f"/p/{others_comment['id']}/delete")
        assert gone.headers["location"] == f"/p/{post['id']}"
        deleted = await submit(browser, f"/p/{post['id']}", f"/p/{post['id']}/delete")
        assert deleted.status_code == 303
        assert deleted.headers["location"] == f"/@{author.username}"
        after = await browser.get(f"/p/{post['id']}", headers=PAGE)
    assert after.status_code == 404
    answer = await client.get(f"/api/v1/statuses/{post['id']}", headers=author.auth)
    assert answer.status_code == 404


async def test_hashtags_lead_to_their_public_photos_and_newcomers_get_some_to_start_from(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    tag = unique_name("tag").replace("_", "")
    public, private, newcomer = (
        await make_user("tagger"),
        await make_user("hider"),
        await make_user("newcomer"),
    )
    await client.patch(
        "/api/v1/accounts/update_credentials", headers=private.auth, data={"locked": "1"}
    )
    shown = await publish(client, public, f"Look #{tag.upper()}")
    hidden = await publish(client, private, f"Mine #{tag}")
    async with browser_of(client, newcomer) as browser:
        card = await browser.get(f"/p/{shown['id']}", headers=PAGE)
        assert f'href="http://tessera.test/tags/{tag}"' in card.text
        page = await browser.get(f"/tags/{tag}", headers=PAGE)
        assert page.status_code == 200
        assert f"<title>#{tag} • Tessera</title>" in page.text
        assert f'href="/p/{shown["id"]}"' in page.text
        assert f'href="/p/{hidden["id"]}"' not in page.text
        none = await browser.get("/tags/nothing_tagged_like_this", headers=PAGE)
        assert "No photos yet" in text_of(none.text)
        # An empty feed shows recent public photos to start from.
        home = await browser.get("/", headers=PAGE)
        assert "Discover new photos" in text_of(home.text)
        assert f'href="/p/{shown["id"]}"' in home.text
        assert f'href="/p/{hidden["id"]}"' not in home.text


async def test_missing_posts_and_people_get_html_error_pages(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("lost")
    async with browser_of(client, user) as browser:
        for path in ("/p/999999", "/p/not-an-id", "/@nobody_here_at_all", "/no/such/page"):
            answer = await browser.get(path, headers=PAGE)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"].startswith("text/html")
            assert "<title>Page not found • Tessera</title>" in answer.text
    # The API keeps Mastodon's JSON errors.
    api = await client.get("/api/v1/statuses/999999", headers=PAGE)
    assert api.json() == {"error": "Record not found"}
    api = await client.get("/api/v1/nothing", headers=PAGE)
    assert api.json() == {"error": "Record not found"}


# -- a new post ----------------------------------------------------------------------------


async def test_photos_uploaded_by_the_script_then_published_in_order_with_alt_text(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("poster")
    async with browser_of(client, user) as browser:
        page = await browser.get("/new", headers=PAGE)
        assert "<title>New post • Tessera</title>" in page.text
        assert '<label for="photos" class="button primary">Choose photos</label>' in page.text
        csrf = await token(browser, "/new")
        ids = []
        for n in range(3):
            answer = await browser.post(
                "/web/media",
                files={"file": (f"p{n}.png", photo(64, 48), "image/png")},
                headers={**SCRIPT, "X-CSRF-Token": csrf},
            )
            assert answer.status_code == 200, answer.text
            assert set(answer.json()) == {"id", "preview_url"}
            ids.append(answer.json()["id"])
        order = [ids[2], ids[0], ids[1]]
        published = await browser.post(
            "/new",
            data={
                "caption": "Three #photos",
                "media_ids[]": order,
                "descriptions[]": ["A red barn", "", "A blue sky"],
            },
            headers={**SCRIPT, "X-CSRF-Token": csrf},
        )
        assert published.status_code == 200, published.text
        url = published.json()["url"]
        post_page = await browser.get(url, headers=PAGE)
    post_id = url.rsplit("/", 1)[1]
    status = await _status(client, user, post_id)
    media = status["media_attachments"]
    assert isinstance(media, list)
    assert [m["id"] for m in media] == order
    assert [m["description"] for m in media] == ["A red barn", None, "A blue sky"]
    assert 'alt="A red barn"' in post_page.text
    assert f'alt="Photo by @{user.username}, 2 of 3"' in post_page.text


async def test_the_form_works_without_scripts_too(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("noscript")
    async with browser_of(client, user) as browser:
        published = await submit(
            browser,
            "/new",
            "/new",
            {"caption": "Plain form", "descriptions[]": ["First one", "Second one"]},
            files=[
                ("photos[]", ("a.png", photo(), "image/png")),
                ("photos[]", ("b.png", photo(), "image/png")),
            ],
        )
        assert published.status_code == 303, published.text
        post_id = published.headers["location"].rsplit("/", 1)[1]
    media = (await _status(client, user, post_id))["media_attachments"]
    assert isinstance(media, list)
    assert [m["description"] for m in media] == ["First one", "Second one"]


async def test_refused_files_get_a_readable_message_and_nothing_is_stored(
    client: httpx.AsyncClient, make_user: MakeUser, stored_keys: StoredKeys
) -> None:
    user = await make_user("refused")
    before_keys, before_rows = await stored_keys(), await media_count(client)
    async with browser_of(client, user) as browser:
        csrf = await token(browser, "/new")
        not_a_photo = await browser.post(
            "/web/media",
            files={"file": ("notes.txt", b"just some words", "text/plain")},
            headers={**SCRIPT, "X-CSRF-Token": csrf},
        )
        assert not_a_photo.status_code == 422
        assert not_a_photo.json() == {
            "error": "notes.txt: The file is not a JPEG, PNG, WebP, GIF, HEIC or AVIF image."
        }
        # Without scripts: a page that says which file and why (not a JSON body).
        form = await submit(
            browser,
            "/new",
            "/new",
            {"caption": "Bad mix"},
            files=[
                ("photos[]", ("good.png", photo(), "image/png")),
                ("photos[]", ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")),
            ],
        )
        assert form.status_code == 422
        assert form.headers["content-type"].startswith("text/html")
        assert "broken.png: The file could not be read as an image." in text_of(form.text)
        assert "{" not in text_of(form.text)
        tiny = await submit(
            browser,
            "/new",
            "/new",
            files=[("photos[]", ("tiny.png", photo(8, 8), "image/png"))],
        )
        assert tiny.status_code == 422
        assert "tiny.png: The image is smaller than 32 pixels on a side." in text_of(tiny.text)
        none = await submit(browser, "/new", "/new", {"caption": "No photos"})
        assert none.status_code == 422
        assert "Photos can't be blank: a post needs 1 to 10 photos." in text_of(none.text)
    assert await stored_keys() == before_keys
    assert await media_count(client) == before_rows


async def test_files_over_the_size_limit_are_refused_by_name(
    make_client: AppFactory, make_user: MakeUser
) -> None:
    small = await make_client(media_size_limit=20_000)
    user = await make_user("bigfile")
    async with browser_of(small, user) as browser:
        csrf = await token(browser, "/new")
        headers = {**SCRIPT, "X-CSRF-Token": csrf}
        too_big = photo() + secrets.token_bytes(30_000)  # checked by size before decoding
        big = await browser.post(
            "/web/media", files={"file": ("big.png", too_big, "image/png")}, headers=headers
        )
        assert big.status_code == 413
        assert big.json() == {"error": "big.png is too large: each photo may be up to 19.5 KB."}
        # Far beyond the limit: refused from the declared length, before the body is read.
        huge = await browser.post(
            "/web/media", files={"file": ("huge.bin", b"x" * 200_000, "image/png")}, headers=headers
        )
        assert huge.status_code == 413
        assert huge.json() == {"error": "That is too large: each photo may be up to 19.5 KB."}

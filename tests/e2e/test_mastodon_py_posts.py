"""Mastodon.py 2.x publishing, reading, commenting on and deleting posts over real HTTP."""

from __future__ import annotations

import pytest
import requests
from mastodon import MastodonAPIError, MastodonNotFoundError

from tests.e2e.conftest import ClientApp, png, sign_up

pytestmark = pytest.mark.e2e


def test_post_read_grid_reply_and_delete(server: str, client_app: ClientApp) -> None:
    author = sign_up(server, client_app, "poster")
    fan = sign_up(server, client_app, "fan")
    first = author.api.media_post(png(64, 48), mime_type="image/png", description="one")
    second = author.api.media_post(png(48, 64), mime_type="image/png")

    status = author.api.status_post(
        f"Two photos #e2e with @{fan.username}",
        media_ids=[second, first],
        sensitive=True,
        visibility="unlisted",
        spoiler_text="light",
        idempotency_key="e2e-key",
    )

    assert [str(m.id) for m in status.media_attachments] == [str(second.id), str(first.id)]
    assert status.sensitive is True
    assert status.visibility == "unlisted"
    assert status.spoiler_text == "light"
    assert [t.name for t in status.tags] == ["e2e"]
    assert [str(m.id) for m in status.mentions] == [fan.id]
    assert requests.get(status.media_attachments[0].url, timeout=10).status_code == 200
    again = author.api.status_post(
        "Two photos", media_ids=[second, first], idempotency_key="e2e-key"
    )
    assert again.id == status.id

    seen = fan.api.status(status.id)
    assert seen.account.acct == author.username
    assert seen.content.startswith("<p>Two photos")

    grid = fan.api.account_statuses(author.id, only_media=True)
    assert [s.id for s in grid] == [status.id]

    reply = fan.api.status_reply(seen, "Lovely!")
    assert reply.in_reply_to_id == status.id
    assert reply.visibility == "unlisted"
    assert f"@{author.username}" in reply.content
    assert author.api.status(status.id).replies_count == 1

    deleted = author.api.status_delete(status.id, delete_media=True)
    assert deleted.text.startswith("Two photos")
    with pytest.raises(MastodonNotFoundError):
        fan.api.status(status.id)
    assert author.api.account_statuses(author.id, only_media=True) == []


def test_private_posts_and_refusals(server: str, client_app: ClientApp) -> None:
    author = sign_up(server, client_app, "private")
    stranger = sign_up(server, client_app, "stranger")
    photo = author.api.media_post(png(64, 48), mime_type="image/png")
    status = author.api.status_post("Just for friends", media_ids=[photo], visibility="private")

    with pytest.raises(MastodonNotFoundError):
        stranger.api.status(status.id)
    assert stranger.api.account_statuses(author.id) == []
    with pytest.raises(MastodonAPIError):
        author.api.status_post("No photo")
    with pytest.raises(MastodonAPIError):
        author.api.status_post("Stolen", media_ids=[photo])  # already attached


def test_media_read_and_describe(server: str, client_app: ClientApp) -> None:
    author = sign_up(server, client_app, "describer")
    upload = author.api.media_post(png(320, 240), mime_type="image/png", focus=(0.5, -0.5))
    assert upload.url is not None
    assert upload.meta.original.width == 320
    assert upload.meta.focus.x == 0.5

    fetched = author.api.media(upload.id)
    assert fetched.url == upload.url
    assert fetched.blurhash == upload.blurhash

    updated = author.api.media_update(upload.id, description="A test card", focus=(0.0, 0.25))
    assert updated.description == "A test card"
    assert updated.meta.focus.y == 0.25
    assert author.api.media(upload.id).description == "A test card"

    stranger = sign_up(server, client_app, "peeker")
    with pytest.raises(MastodonNotFoundError):
        stranger.api.media(upload.id)


def test_home_timeline_pages(server: str, client_app: ClientApp) -> None:
    reader = sign_up(server, client_app, "pager")
    posted = [
        reader.api.status_post(
            f"Page {n}", media_ids=[reader.api.media_post(png(64, 48), "image/png")]
        )
        for n in range(3)
    ]
    newest_first = [status.id for status in reversed(posted)]

    first = reader.api.timeline_home(limit=2)
    assert [status.id for status in first] == newest_first[:2]
    second = reader.api.fetch_next(first)
    assert second is not None
    assert [status.id for status in second] == newest_first[2:]
    assert reader.api.fetch_next(second) is None  # not a full page: no next link
    back = reader.api.fetch_previous(second)
    assert back is not None
    assert [status.id for status in back] == newest_first[:2]
    assert reader.api.fetch_previous(first) == []
    assert reader.api.timeline_public(limit=1)[0].id == newest_first[0]

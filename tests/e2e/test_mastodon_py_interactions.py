"""Mastodon.py 2.x liking, saving and commenting on posts over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from mastodon import MastodonNotFoundError

from tests.e2e.conftest import ClientApp, Person, png, sign_up

pytestmark = pytest.mark.e2e


def _photo_post(person: Person, caption: str, **options: str) -> Any:
    """A Status (Mastodon.py's AttribAccessDict) of a one-photo post."""
    photo = person.api.media_post(png(64, 48), mime_type="image/png")
    return person.api.status_post(caption, media_ids=[photo], **options)


def test_like_save_and_list(server: str, client_app: ClientApp) -> None:
    author = sign_up(server, client_app, "liked")
    fan = sign_up(server, client_app, "liker")
    posts = [_photo_post(author, f"Photo {n}") for n in range(3)]

    liked = fan.api.status_favourite(posts[0].id)
    assert liked.favourited is True
    assert liked.favourites_count == 1
    assert fan.api.status_favourite(posts[0].id).favourites_count == 1  # idempotent
    for post in posts[1:]:
        fan.api.status_favourite(post.id)
    assert [str(a.id) for a in author.api.status_favourited_by(posts[0].id)] == [fan.id]

    page = fan.api.favourites(limit=2)
    assert [s.id for s in page] == [posts[2].id, posts[1].id]
    rest = fan.api.fetch_next(page)
    assert rest is not None
    assert [s.id for s in rest] == [posts[0].id]

    unliked = fan.api.status_unfavourite(posts[0].id)
    assert unliked.favourited is False
    assert unliked.favourites_count == 0
    assert author.api.status(posts[0].id).favourites_count == 0

    saved = fan.api.status_bookmark(posts[1].id)
    assert saved.bookmarked is True
    assert [s.id for s in fan.api.bookmarks()] == [posts[1].id]
    assert fan.api.status(posts[1].id).bookmarked is True
    assert fan.api.status_unbookmark(posts[1].id).bookmarked is False
    assert fan.api.bookmarks() == []


def test_comment_thread_and_refusals(server: str, client_app: ClientApp) -> None:
    author = sign_up(server, client_app, "threaded")
    fan = sign_up(server, client_app, "commenter")
    stranger = sign_up(server, client_app, "outsider")
    post = _photo_post(author, "Talk about it")

    first = fan.api.status_post("First!", in_reply_to_id=post.id)
    answer = author.api.status_reply(first, "Thanks")
    second = fan.api.status_post("Second", in_reply_to_id=post)

    context = stranger.api.status_context(post.id)
    assert context.ancestors == []
    assert [s.id for s in context.descendants] == [first.id, answer.id, second.id]
    assert [s.id for s in fan.api.status_context(answer.id).ancestors] == [post.id, first.id]
    assert author.api.status(post.id).replies_count == 2

    author.api.status_delete(second.id)  # the post's author removes a comment under it
    assert author.api.status(post.id).replies_count == 1

    private = _photo_post(author, "Only friends", visibility="private")
    for call in (
        stranger.api.status_favourite,
        stranger.api.status_bookmark,
        stranger.api.status_favourited_by,
        stranger.api.status_context,
    ):
        with pytest.raises(MastodonNotFoundError):
            call(private.id)
    with pytest.raises(MastodonNotFoundError):
        stranger.api.status_post("Let me in", in_reply_to_id=private.id)
    assert author.api.status(private.id).favourites_count == 0

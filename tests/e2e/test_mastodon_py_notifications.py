"""Mastodon.py 2.x notifications, markers and `stream_user` over real HTTP, unchanged."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from mastodon import Mastodon, MastodonNotFoundError, StreamListener

from tests.api.streaming import running_server
from tests.conftest import BACKEND, Backend
from tests.e2e.conftest import ClientApp, Person, client, png, sign_up

pytestmark = pytest.mark.e2e

DEADLINE = 15.0
T = TypeVar("T")


def eventually(read: Callable[[], T], done: Callable[[T], bool]) -> T:
    """`read()` again until `done` holds for its answer (events are handled after the
    request that caused them returns), or fail at the deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not there after {DEADLINE}s: {value!r}")
        time.sleep(0.05)  # a poll interval, not a wait for the outcome


def _post(person: Person, caption: str) -> Any:
    photo = person.api.media_post(png(64, 48), mime_type="image/png")
    return person.api.status_post(caption, media_ids=[photo])


def test_notifications_list_filter_dismiss_and_clear(server: str, client_app: ClientApp) -> None:
    author = sign_up(server, client_app, "noted")
    fan = sign_up(server, client_app, "noter")
    status = _post(author, "Like me")
    fan.api.account_follow(author.id)
    fan.api.status_favourite(status.id)
    reply = fan.api.status_reply(status, "Lovely")

    notes = eventually(author.api.notifications, lambda found: len(found) == 3)
    assert [n.type for n in notes] == ["mention", "favourite", "follow"]
    assert all(str(n.account.id) == fan.id for n in notes)
    assert notes[0].status.id == reply.id
    assert notes[1].status.id == status.id
    assert [n.type for n in author.api.notifications(mentions_only=True)] == ["mention"]
    assert [n.type for n in author.api.notifications(exclude_types=["mention"])] == [
        "favourite",
        "follow",
    ]
    assert author.api.notifications(id=notes[1].id).status.id == status.id

    with pytest.raises(MastodonNotFoundError):
        fan.api.notifications_dismiss(notes[0].id)
    author.api.notifications_dismiss(notes[0].id)
    assert [n.id for n in author.api.notifications()] == [notes[1].id, notes[2].id]

    author.api.markers_set(["notifications"], [notes[1].id])
    marker = author.api.markers_get(["notifications"]).notifications
    assert (str(marker.last_read_id), marker.version) == (str(notes[1].id), 1)

    author.api.notifications_clear()
    assert author.api.notifications() == []


class Collector(StreamListener):
    """Hands what the stream delivers to the test thread."""

    def __init__(self) -> None:
        super().__init__()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.opened = threading.Event()

    def handle_heartbeat(self) -> None:
        self.opened.set()  # the server's `:)` comes once the stream is live

    def on_update(self, status: Any) -> None:
        self.events.put(("update", status))

    def on_notification(self, notification: Any) -> None:
        self.events.put(("notification", notification))

    def on_delete(self, status_id: Any) -> None:
        self.events.put(("delete", status_id))

    def next(self) -> tuple[str, Any]:
        return self.events.get(timeout=DEADLINE)


@contextmanager
def streaming(api: Mastodon) -> Iterator[Collector]:
    listener = Collector()
    handle = api.stream_user(listener, run_async=True)
    try:
        assert listener.opened.wait(DEADLINE), "the stream did not open"
        yield listener
    finally:
        handle.close()


def test_stream_user_delivers_updates_notifications_and_deletions(
    server: str, client_app: ClientApp
) -> None:
    author = sign_up(server, client_app, "live")
    reader = sign_up(server, client_app, "watcher")
    reader.api.account_follow(author.id)

    with streaming(reader.api) as stream:
        status = _post(author, "Now")
        kind, update = stream.next()
        assert (kind, update.id, update.account.acct) == ("update", status.id, author.username)

        author.api.status_favourite(status.id)  # one's own like: nobody hears of it
        author.api.account_follow(reader.id)
        kind, notification = stream.next()
        assert (kind, notification.type) == ("notification", "follow")
        assert str(notification.account.id) == author.id

        author.api.status_delete(status.id)
        kind, deleted = stream.next()
        assert (kind, str(deleted)) == ("delete", str(status.id))


@pytest.mark.skipif(BACKEND != "scaled", reason="several API processes need the scaled backend")
def test_stream_user_on_one_process_hears_a_like_made_through_another(
    server: str,
    client_app: ClientApp,
    backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    author = sign_up(server, client_app, "author")
    with running_server(backend, tmp_path_factory.mktemp("second") / "server.log") as other:
        fan = sign_up(other, client_app, "fan")
        status = _post(author, "Over there")
        assert client(other, client_app).stream_healthy()
        with streaming(author.api) as stream:
            fan.api.status_favourite(status.id)
            kind, notification = stream.next()
            while kind != "notification":  # the author's own post may come first
                kind, notification = stream.next()

    assert notification.type == "favourite"
    assert str(notification.account.id) == fan.id
    assert notification.status.id == status.id

"""Mastodon's streaming API against real `tessera serve` processes: Server-Sent Events and
WebSocket, their events, heartbeats, refusals, and (scaled) delivery across processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.accounts.helpers import bearer, revoke
from tests.api.streaming import DEADLINE, USER, Frame, open_stream, running_server
from tests.conftest import BACKEND, REDIS_URL, Backend, OAuthClient, User, sign_up_user
from tests.posts.helpers import publish
from tests.processes import serve, stop


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(backend, tmp_path_factory.mktemp("stream") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    """Talks to the server process: every action goes through it, so that its own relay
    handles the events (on the embedded backend the hub is that process's)."""
    async with httpx.AsyncClient(base_url=server, timeout=DEADLINE) as client:
        yield client


async def _user(http: httpx.AsyncClient, oauth_client: OAuthClient, stem: str) -> User:
    return await sign_up_user(http, oauth_client, stem)


async def _follow(http: httpx.AsyncClient, user: User, target: User) -> None:
    response = await http.post(f"/api/v1/accounts/{target.id}/follow", headers=user.auth)
    assert response.status_code == 200, response.text


def _ws_url(server: str, query: str = "") -> str:
    return server.replace("http://", "ws://") + "/api/v1/streaming" + query


async def _received(websocket: ClientConnection) -> dict[str, object]:
    message = orjson.loads(await asyncio.wait_for(websocket.recv(), DEADLINE))
    assert isinstance(message, dict)
    return message


async def test_the_health_check_answers_ok(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/streaming/health")
    assert (response.status_code, response.text) == (200, "OK")


async def test_the_user_stream_carries_updates_notifications_and_deletions(
    http: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    author = await _user(http, oauth_client, "streamer")
    reader = await _user(http, oauth_client, "reader")
    fan = await _user(http, oauth_client, "fan")
    await _follow(http, reader, author)

    async with open_stream(http, reader.token) as stream:
        status = await publish(http, author, "Fresh")
        update = await stream.event()
        assert update.event == "update"
        assert update.json()["id"] == status["id"]
        assert update.json()["account"]["acct"] == author.username

        await _follow(http, fan, reader)
        notification = await stream.event()
        assert notification.event == "notification"
        assert notification.json()["type"] == "follow"
        assert notification.json()["account"]["id"] == fan.id

        deleted = await http.delete(f"/api/v1/statuses/{status['id']}", headers=author.auth)
        assert deleted.status_code == 200
        assert await stream.event() == Frame("delete", status["id"])


async def test_the_notification_stream_carries_only_notifications_with_heartbeats(
    http: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    author = await _user(http, oauth_client, "quiet")
    fan = await _user(http, oauth_client, "liker")
    await _follow(http, fan, author)

    async with open_stream(http, fan.token, f"{USER}/notification") as stream:
        status = await publish(http, author, "Like me")  # an update the stream leaves out
        liked = await http.post(f"/api/v1/statuses/{status['id']}/favourite", headers=fan.auth)
        assert liked.status_code == 200  # notifies the author, not this stream's owner
        await _follow(http, author, fan)

        notification = await stream.event()
        assert notification.json()["type"] == "follow"
        assert notification.json()["account"]["id"] == author.id
        assert await asyncio.wait_for(stream.frame(), DEADLINE) == Frame("", "thump")


async def test_a_like_reaches_the_authors_stream(
    http: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    author = await _user(http, oauth_client, "author")
    fan = await _user(http, oauth_client, "fan")
    status = await publish(http, author, "Like it")

    async with open_stream(http, author.token, f"{USER}/notification") as stream:
        liked = await http.post(f"/api/v1/statuses/{status['id']}/favourite", headers=fan.auth)
        assert liked.status_code == 200
        notification = (await stream.event()).json()

    assert notification["type"] == "favourite"
    assert notification["status"]["id"] == status["id"]
    assert notification["status"]["favourites_count"] == 1


async def test_streams_refuse_missing_and_revoked_tokens(
    http: httpx.AsyncClient, oauth_client: OAuthClient, server: str
) -> None:
    user = await _user(http, oauth_client, "refused")
    assert (await http.get(USER)).status_code == 401
    assert (await http.get(USER, headers=bearer("not-a-token"))).status_code == 401
    app_only = await http.get(USER, headers=bearer(oauth_client.app_token))
    assert app_only.status_code == 401
    unknown = await http.get("/api/v1/streaming/public", headers=user.auth)
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "Unknown channel requested"}

    assert (await revoke(http, oauth_client, user.token)).status_code == 200
    response = await http.get(USER, headers=user.auth)
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(_ws_url(server, "?stream=user"), additional_headers=user.auth):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as anonymous:
        async with connect(_ws_url(server, "?stream=user")):
            pass
    assert anonymous.value.response.status_code == 401


async def test_revoking_the_token_ends_its_open_stream(
    http: httpx.AsyncClient, oauth_client: OAuthClient
) -> None:
    user = await _user(http, oauth_client, "revoked")
    async with open_stream(http, user.token) as stream:
        assert (await revoke(http, oauth_client, user.token)).status_code == 200
        assert await stream.ended()


async def test_a_websocket_carries_the_streams_it_subscribed_to(
    http: httpx.AsyncClient, oauth_client: OAuthClient, server: str
) -> None:
    user = await _user(http, oauth_client, "socket")
    fan = await _user(http, oauth_client, "fan")

    async with connect(_ws_url(server), additional_headers=user.auth) as websocket:
        await websocket.send('{"type": "subscribe", "stream": "user:notification"}')
        await websocket.send(orjson.dumps({"type": "subscribe", "stream": "hashtag"}))  # binary
        # Messages are handled in order: once this error came, the first one applies.
        assert await _received(websocket) == {"error": "Unknown stream type", "status": 400}

        await _follow(http, fan, user)
        message = await _received(websocket)

    assert message["stream"] == ["user:notification"]
    assert message["event"] == "notification"
    assert isinstance(message["payload"], str)  # JSON text, as Mastodon sends it
    payload = orjson.loads(message["payload"])
    assert (payload["type"], payload["account"]["id"]) == ("follow", fan.id)


@pytest.mark.parametrize("how", ["query", "subprotocol"])
async def test_a_websocket_takes_the_token_from_the_query_or_the_subprotocol(
    http: httpx.AsyncClient, oauth_client: OAuthClient, server: str, how: str
) -> None:
    author = await _user(http, oauth_client, "poster")
    user = await _user(http, oauth_client, "socket")
    await _follow(http, user, author)
    if how == "query":
        opened = connect(_ws_url(server, f"?stream=user&access_token={user.token}"))
    else:
        opened = connect(_ws_url(server, "?stream=user"), subprotocols=[Subprotocol(user.token)])

    async with opened as websocket:
        status = await publish(http, author, "Hello")
        message = await _received(websocket)

    assert (message["stream"], message["event"]) == (["user"], "update")
    assert isinstance(message["payload"], str)
    assert orjson.loads(message["payload"])["id"] == status["id"]


async def test_open_streams_end_when_the_server_stops(
    backend: Backend, oauth_client: OAuthClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("stopping") / "server.log"
    url, process = serve({**os.environ, **backend.env}, log)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=DEADLINE) as http:
            user = await _user(http, oauth_client, "leaving")
            async with open_stream(http, user.token) as stream:
                process.terminate()
                assert await stream.ended()
        # uvicorn re-raises the signal it handled once it has shut down cleanly.
        assert await asyncio.to_thread(process.wait, DEADLINE) in {0, -signal.SIGTERM}
    finally:
        stop(process)
    assert "Application shutdown complete" in log.read_text()


@pytest.mark.skipif(BACKEND != "scaled", reason="several API processes need the scaled backend")
async def test_a_stream_on_one_process_gets_events_made_through_another(
    http: httpx.AsyncClient,
    oauth_client: OAuthClient,
    backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    author = await _user(http, oauth_client, "there")
    fan = await _user(http, oauth_client, "here")
    status = await publish(http, author, "Across")
    with running_server(backend, tmp_path_factory.mktemp("other") / "server.log") as other:
        async with (
            httpx.AsyncClient(base_url=other, timeout=DEADLINE) as elsewhere,
            open_stream(http, author.token, f"{USER}/notification") as stream,
        ):
            liked = await elsewhere.post(
                f"/api/v1/statuses/{status['id']}/favourite", headers=fan.auth
            )
            assert liked.status_code == 200
            notification = (await stream.event()).json()

    assert (notification["type"], notification["account"]["id"]) == ("favourite", fan.id)


@pytest.mark.skipif(BACKEND != "scaled", reason="reads the server's subscriptions in Redis")
async def test_a_client_that_goes_away_is_unsubscribed(
    http: httpx.AsyncClient, oauth_client: OAuthClient, backend: Backend
) -> None:
    user = await _user(http, oauth_client, "leaver")
    channel = f"{backend.settings_overrides['redis_prefix']}stream:user:{user.id}"
    redis = Redis.from_url(REDIS_URL)

    async def listeners() -> int:
        [(_, count)] = await redis.pubsub_numsub(channel)
        return int(count)

    try:
        async with open_stream(http, user.token):
            assert await listeners() == 1
        deadline = time.monotonic() + DEADLINE
        remaining = await listeners()
        while remaining and time.monotonic() < deadline:  # the server notices the close
            await asyncio.sleep(0.05)  # a poll interval, not a wait for the outcome
            remaining = await listeners()
        assert remaining == 0
    finally:
        await redis.aclose()

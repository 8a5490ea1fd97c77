"""Mastodon's streaming API: Server-Sent Events and WebSocket, for the `user` streams.

A stream subscribes to its account's channel on the runtime's hub (in process, or Redis
pub/sub so that events made by any process reach it) and renders each event for its
viewer when it arrives: `update` through the posts service's visibility chokepoint,
`notification` through the notifications service, `delete` as the bare id. Every
`TESSERA_STREAMING_HEARTBEAT` seconds a quiet stream sends a heartbeat, and each time
the token is checked again, so a revoked token ends its streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import orjson
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection

from tessera import accounts, notifications, posts
from tessera.core.errors import BadRequest, TesseraError, Unauthorized
from tessera.core.runtime import Links, Runtime, links, runtime_of
from tessera.core.streaming import StreamEvent, Subscription, user_channel

router = APIRouter()

EVENTS: dict[str, frozenset[str]] = {
    "user": frozenset({"update", "delete", "notification"}),
    "user:notification": frozenset({"notification"}),
}
"""The streams served, and the events each carries."""
SCOPES = {"user": "read:statuses", "user:notification": "read:notifications"}
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""No caching, and no buffering by a proxy (nginx honours the second)."""


def _token(connection: HTTPConnection) -> tuple[str | None, bool]:
    """The access token, and whether it came as the WebSocket subprotocol (which the
    handshake must then echo). Mastodon takes it from the `Authorization` header, the
    `access_token` query parameter, or `Sec-WebSocket-Protocol`."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
    query = connection.query_params.get("access_token")
    if query:
        return query, False
    protocol = connection.headers.get("sec-websocket-protocol")
    if protocol and connection.scope["type"] == "websocket":
        return protocol.split(",")[0].strip(), True
    return None, False


@dataclass(frozen=True, slots=True)
class Viewer:
    token: str
    caller: accounts.Caller
    account_id: int


async def _viewer(runtime: Runtime, token: str | None) -> Viewer:
    """Whose stream this is: a valid user token, or a 401."""
    if token is None:
        raise Unauthorized("Missing access token")
    caller = await accounts.caller_for_token(runtime, token)
    if caller.account_id is None:
        raise Unauthorized("This stream requires an authenticated user")
    return Viewer(token, caller, caller.account_id)


def _check_stream(viewer: Viewer, stream: str) -> None:
    if stream not in EVENTS:
        raise BadRequest("Unknown stream type")
    if not viewer.caller.allows(SCOPES[stream]):
        raise Unauthorized("Access token does not have the required scopes")


async def _render(runtime: Runtime, viewer: Viewer, urls: Links, event: StreamEvent) -> str | None:
    """The event's payload for this viewer; None when there is nothing it may see."""
    if event.event == "delete":
        return event.payload
    item = int(event.payload)
    async with runtime.sessions() as session:
        if event.event == "update":
            bodies = await posts.render_statuses(session, viewer.account_id, [item], urls)
        elif event.event == "notification":
            bodies = await notifications.render_notifications(
                session, viewer.account_id, [item], urls
            )
        else:
            return None
    return orjson.dumps(bodies[0]).decode() if bodies else None


async def _events(
    runtime: Runtime, viewer: Viewer, subscription: Subscription
) -> AsyncIterator[StreamEvent | None]:
    """The subscription's events, and None whenever a heartbeat is due; ends with the
    subscription (shutdown, a client too far behind) or once the token is not valid."""
    beat = runtime.settings.streaming_heartbeat
    while True:
        try:
            event = await subscription.next(beat)
        except StopAsyncIteration:
            return
        if event is None:
            try:
                await accounts.caller_for_token(runtime, viewer.token)
            except TesseraError:
                return  # revoked or expired
        yield event


# -- Server-Sent Events -------------------------------------------------------------------


async def open_sse(request: Request, stream: str, token: str | None = None) -> StreamingResponse:
    """An SSE stream for the request's token, or for `token` when the caller has
    authenticated the request another way (the web app: its session cookie)."""
    runtime = runtime_of(request)
    viewer = await _viewer(runtime, token or _token(request)[0])
    _check_stream(viewer, stream)
    # Subscribed before the answer starts, so that a client that saw the stream open
    # misses nothing sent after, and an unreachable hub is a 503, not a broken stream.
    stack = AsyncExitStack()
    subscription = await stack.enter_async_context(
        runtime.streams.subscribe([user_channel(viewer.account_id)])
    )
    urls = links(request)
    wanted = EVENTS[stream]

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b":)\n"
            async for event in _events(runtime, viewer, subscription):
                if event is None:
                    yield b":thump\n"
                elif event.event in wanted:
                    data = await _render(runtime, viewer, urls, event)
                    if data is not None:
                        yield f"event: {event.event}\ndata: {data}\n\n".encode()
        finally:
            await stack.aclose()

    # The background task closes the subscription too if the body never started.
    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        background=BackgroundTask(stack.aclose),
    )


@router.get("/api/v1/streaming/health")
async def health() -> PlainTextResponse:
    return PlainTextResponse("OK")


@router.get("/api/v1/streaming/user")
async def user_stream(request: Request) -> StreamingResponse:
    return await open_sse(request, "user")


@router.get("/api/v1/streaming/user/notification")
async def user_notification_stream(request: Request) -> StreamingResponse:
    return await open_sse(request, "user:notification")


@router.get("/api/v1/streaming")
async def any_stream(request: Request) -> StreamingResponse:
    """`?stream=user`: the same streams, named in the query (as Mastodon also allows)."""
    return await open_sse(request, request.query_params.get("stream", ""))


@router.get("/api/v1/streaming/{channel:path}", include_in_schema=False)
async def unknown_stream(channel: str) -> None:
    """Public and hashtag streams are not served."""
    raise BadRequest("Unknown channel requested")


# -- WebSocket ------------------------------------------------------------------------------


async def _refuse(websocket: WebSocket, error: TesseraError) -> None:
    """Answer the handshake with the error's status and body (where the server can)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            JSONResponse(error.body(), status_code=error.status_code)
        )
    else:
        await websocket.close(code=1008, reason=error.message)


@router.websocket("/api/v1/streaming")
async def websocket_stream(websocket: WebSocket) -> None:
    """One connection, any number of the served streams: the client sends
    `{"type": "subscribe", "stream": "user"}` (or names one as `?stream=`), and gets
    `{"stream": ["user"], "event": …, "payload": "<JSON text>"}` messages."""
    runtime = runtime_of(websocket)
    token, as_protocol = _token(websocket)
    streams: set[str] = set()
    async with AsyncExitStack() as stack:
        try:
            viewer = await _viewer(runtime, token)
            if first := websocket.query_params.get("stream"):
                _check_stream(viewer, first)
                streams.add(first)
            subscription = await stack.enter_async_context(
                runtime.streams.subscribe([user_channel(viewer.account_id)])
            )
        except TesseraError as error:
            await _refuse(websocket, error)
            return
        await websocket.accept(subprotocol=token if as_protocol else None)
        urls = links(websocket)

        async def send() -> None:
            async for event in _events(runtime, viewer, subscription):
                if event is None:
                    continue  # the token was checked; nothing to send
                names = sorted(name for name in streams if event.event in EVENTS[name])
                if not names:
                    continue
                data = await _render(runtime, viewer, urls, event)
                if data is None:
                    continue
                for name in names:
                    message = {"stream": [name], "event": event.event, "payload": data}
                    await websocket.send_text(orjson.dumps(message).decode())

        async def listen() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text") or message.get("bytes") or b""
                reply = _command(viewer, streams, raw)
                if reply is not None:
                    await websocket.send_text(orjson.dumps(reply).decode())

        await _until_first_ends(send(), listen())
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=1000)


def _command(viewer: Viewer, streams: set[str], raw: str | bytes) -> dict[str, object] | None:
    """Apply a client's `subscribe` / `unsubscribe` message; an error reply or None."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"error": "Malformed message", "status": 400}
    if not isinstance(message, dict) or message.get("type") not in {"subscribe", "unsubscribe"}:
        return {"error": "Unknown message type", "status": 400}
    stream = message.get("stream")
    if not isinstance(stream, str) or stream not in EVENTS:
        return {"error": "Unknown stream type", "status": 400}
    if message["type"] == "unsubscribe":
        streams.discard(stream)
        return None
    try:
        _check_stream(viewer, stream)
    except TesseraError as error:
        return {"error": error.message, "status": error.status_code}
    streams.add(stream)
    return None


async def _until_first_ends(*jobs: Awaitable[None]) -> None:
    """Run the jobs until one of them returns, then cancel the others."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # re-raise a failure
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await task

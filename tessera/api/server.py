"""`tessera serve` under uvicorn, with two things uvicorn does not do by itself.

- At shutdown (SIGTERM or SIGINT) uvicorn stops accepting connections and waits for every
  open response to finish, at most `TESSERA_SHUTDOWN_TIMEOUT` seconds; a live stream never
  finishes by itself, so the runtime's streams are ended first. From that moment the
  process reports itself not ready (`/health/ready` is a 503).
- Its websockets-sansio protocol logs an error whenever an app refuses a WebSocket
  handshake with an HTTP answer (our 401 for a missing or revoked token); the fix
  proposed upstream (uvicorn pull request 3138) is applied here until it is released.
"""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from tessera.core.runtime import Runtime

__all__ = ["run"]


class _WebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            self.handshake_complete = True  # answered (refused): not an unfinished handshake


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.runtime.drain()
        await self.runtime.streams.close()
        await super().shutdown(sockets)


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve `app` (made by `create_app`) until SIGINT or SIGTERM."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws=_WebSocketProtocol,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=app.state.runtime.settings.shutdown_timeout,
    )
    _Server(config, app.state.runtime).run()

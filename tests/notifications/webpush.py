"""A Web Push receiver for the tests: a push service on 127.0.0.1 that records what it is
sent, and a subscriber's keys that decrypt it (RFC 8291) and check its VAPID signature
(RFC 8292) with nothing of the server's code."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

DEADLINE = 15.0


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Push:
    """One request the push service received."""

    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes


@dataclass
class Subscriber:
    """A browser's side of a subscription: its ECDH key pair and authentication secret."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @property
    def public_bytes(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def p256dh(self) -> str:
        return b64url(self.public_bytes)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def decrypt(self, push: Push) -> dict[str, Any]:
        """The JSON a push carries, decrypted as a browser would (`aes128gcm`)."""
        assert push.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            push.body, private_key=self.key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        body: dict[str, Any] = json.loads(plain)
        return body


def vapid_claims(push: Push, server_key: str) -> dict[str, Any]:
    """The claims of the push's VAPID token (`Authorization: vapid t=…, k=…`), after
    checking that `k` is the server key and that the token is signed with it (ES256)."""
    scheme, _, params = push.headers["authorization"].partition(" ")
    assert scheme.lower() == "vapid"
    parts = dict(part.strip().split("=", 1) for part in params.split(","))
    assert unb64url(parts["k"].rstrip("=")) == unb64url(server_key.rstrip("="))
    header, claims, signature = parts["t"].split(".")
    raw = unb64url(signature)
    assert len(raw) == 64
    der = utils.encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
    decoded: dict[str, Any] = json.loads(unb64url(claims))
    return decoded


class PushService:
    """Records every POST; answers 201, or the status set for a path with `answer()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pushes: list[Push] = []
        self._answers: dict[str, int] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with service._lock:
                    service._pushes.append(Push(self.path, headers, body))
                    status = service._answers.get(self.path, 201)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output is no place for an access log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        """A fresh endpoint URL on this service (any path is one)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/push/{name}"

    def answer(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._answers[self._path(endpoint)] = status

    def pushes(self, endpoint: str) -> list[Push]:
        path = self._path(endpoint)
        with self._lock:
            return [push for push in self._pushes if push.path == path]

    def wait_for(self, endpoint: str, count: int = 1) -> list[Push]:
        """The endpoint's pushes once there are `count` (from another process, say)."""
        deadline = time.monotonic() + DEADLINE
        while len(found := self.pushes(endpoint)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} pushes after {DEADLINE}s, not {count}")
            time.sleep(0.02)  # a poll interval, not a wait for the outcome
        return found

    async def arrived(self, endpoint: str, count: int = 1) -> list[Push]:
        """`wait_for` for tests running on the event loop that does the pushing."""
        deadline = time.monotonic() + DEADLINE
        while len(found := self.pushes(endpoint)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} pushes after {DEADLINE}s, not {count}")
            await asyncio.sleep(0.02)  # a poll interval, not a wait for the outcome
        return found

    @staticmethod
    def _path(endpoint: str) -> str:
        return "/" + endpoint.split("/", 3)[3]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def running_push_service() -> Iterator[PushService]:
    service = PushService()
    try:
        yield service
    finally:
        service.close()

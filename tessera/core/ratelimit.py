"""Rate limits with the `limits` library: in memory when embedded, in Redis when scaled."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

import orjson
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from tessera.core.config import Settings
from tessera.core.errors import RateLimited

__all__ = [
    "ApiBudgetMiddleware",
    "RateLimiter",
    "client_ip",
    "forwarded_https",
    "token_budget_key",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        reset = datetime.fromtimestamp(self.reset_at, UTC).isoformat(timespec="milliseconds")
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset.replace("+00:00", "Z"),
        }


class RateLimiter:
    """Counts hits per (limit name, key) in a sliding window."""

    def __init__(self, settings: Settings) -> None:
        storage: Storage
        if settings.redis_url and settings.redis_cluster:
            storage = _cluster_storage(settings.redis_url, f"{settings.redis_prefix}ratelimit")
        elif settings.redis_url:
            storage = RedisStorage(
                f"async+{settings.redis_url}",
                key_prefix=f"{settings.redis_prefix}ratelimit",
                implementation="redispy",
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._items = {
            "login": parse(settings.ratelimit_login),
            "signup": parse(settings.ratelimit_signup),
            "api": parse(settings.ratelimit_api),
        }

    async def hit(self, name: str, key: str) -> Verdict:
        item: RateLimitItem = self._items[name]
        allowed = await self._strategy.hit(item, name, key)
        stats = await self._strategy.get_window_stats(item, name, key)
        return Verdict(allowed, item.amount, max(stats.remaining, 0), stats.reset_time)

    async def enforce(self, name: str, key: str) -> Verdict:
        """Count one hit; raise 429 when over the limit."""
        verdict = await self.hit(name, key)
        if not verdict.allowed:
            raise RateLimited(verdict.headers())
        return verdict


def _cluster_storage(url: str, prefix: str) -> RedisClusterStorage:
    """`limits`' Redis Cluster storage, from our URL (`redis[s]://[user:pass@]host:port`):
    it names the node as `async+redis+cluster://`, TLS as an option. Its sliding-window
    keys carry a hash tag, so both windows of a key share a slot."""
    parts = urlsplit(url)
    return RedisClusterStorage(
        f"async+redis+cluster://{parts.netloc}",
        key_prefix=prefix,
        implementation="redispy",
        ssl=parts.scheme == "rediss",
    )


def client_ip(scope: Scope, settings: Settings) -> str:
    """The client's address: the peer, or `X-Forwarded-For` when the peer is a trusted proxy."""
    peer: str = scope["client"][0] if scope.get("client") else "0.0.0.0"  # noqa: S104
    if not settings.trusted_networks or not _trusted(peer, settings):
        return peer
    forwarded: list[str] = [
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    ]
    hops = [hop.strip() for line in forwarded for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, settings):
            return hop
    return hops[0] if hops else peer


def forwarded_https(scope: Scope, settings: Settings) -> bool:
    """Whether the client reached us over https: directly, or through a trusted proxy
    that says so in `X-Forwarded-Proto`."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    peer: str = scope["client"][0] if scope.get("client") else ""
    if not settings.trusted_networks or not _trusted(peer, settings):
        return False
    proto = [value for name, value in scope["headers"] if name == b"x-forwarded-proto"]
    return bool(proto) and proto[0].split(b",")[0].strip().lower() == b"https"


def token_budget_key(token: bytes) -> str:
    """The API budget's key for an access token: a hash, so no database lookup is needed.
    The web app counts a session's requests under its token's key too."""
    return "token:" + hashlib.sha256(token.strip()).hexdigest()[:32]


def _trusted(address: str, settings: Settings) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in settings.trusted_networks)


class ApiBudgetMiddleware:
    """The per-token API budget on `/api/`: headers on every answer, 429 beyond it.

    The key is a hash of the bearer token (or the client address without one), so the
    budget costs no database lookup.
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter, settings: Settings) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        verdict = await self.limiter.hit("api", self._key(scope))
        headers = [(k.lower().encode(), v.encode()) for k, v in verdict.headers().items()]
        if not verdict.allowed:
            body = orjson.dumps({"error": "Too many requests"})
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message["headers"]}  # type: ignore[attr-defined]
                extra = [h for h in headers if h[0] not in present]
                message["headers"] = [*message["headers"], *extra]  # type: ignore[misc]
            await send(message)

        await self.app(scope, receive, send_with_headers)  # type: ignore[arg-type]

    def _key(self, scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return token_budget_key(value[7:])
        return "ip:" + client_ip(scope, self.settings)

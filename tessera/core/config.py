"""All configuration, read once from `TESSERA_*` environment variables (and `.env`)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tessera.core.vapid import parse_private_key

__all__ = ["ConfigError", "Settings", "load_settings"]


class ConfigError(Exception):
    """A setting is invalid; the message is one line fit for an operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TESSERA_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("var")
    """Where the embedded database, the secret key and uploaded files live."""

    database_url: str | None = None
    """`postgresql+asyncpg://…` for the scaled mode; unset means SQLite in the data dir."""

    database_pool_size: int = Field(default=10, gt=0)
    """PostgreSQL connections each process keeps open."""

    database_max_overflow: int = Field(default=20, ge=0)
    """Connections a process may open beyond the pool under load (closed again after use):
    every process together must stay below PostgreSQL's `max_connections`."""

    database_replica_url: str | None = None
    """`postgresql+asyncpg://…` of a streaming replica of that database: the reads of GET
    and HEAD requests go to it (an account's own recent writes are waited for or read
    from the primary; `core/replica.py`); unset means every query goes to the primary."""

    redis_url: str | None = None
    """`redis://…`; when set, rate limits and the token cache live in Redis."""

    redis_prefix: str = "tessera:"
    """Prefix of every Redis key, so several instances can share one Redis."""

    redis_cluster: bool = False
    """`TESSERA_REDIS_URL` names one node of a Redis Cluster (the others are discovered
    from it): keys are spread over the cluster's slots, live events use its pub/sub."""

    broker_url: str | None = None
    """`amqp://…` (or `amqps://…`): events go through RabbitMQ, consumed by `tessera worker`
    and by `tessera serve` (unless `--no-worker`); unset means in-process handlers."""

    broker_exchange: str = "tessera"
    """Name of the topic exchange, and prefix of the queues (`<exchange>.feed`,
    `.notifications`, `.dead`)."""

    broker_prefetch: int = Field(default=32, gt=0)
    """Messages a worker takes from the broker before acknowledging any."""

    public_url: str | None = None
    """The URL clients reach this server at; unset means the request's own base URL."""

    secret_key: str | None = None
    """Signs CSRF tokens (and the Web Push key is derived from it); generated and kept in
    the data dir when unset."""

    registrations_open: bool = True
    """Whether anyone may sign up through the API."""

    ratelimit_login: str = "25 per 5 minutes"
    """Log-in attempts allowed per client address and, separately, per account."""

    ratelimit_signup: str = "5 per 30 minutes"
    """Sign-ups allowed per client address."""

    ratelimit_api: str = "300 per 5 minutes"
    """API requests allowed per access token (or per client address without one)."""

    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated addresses or networks whose `X-Forwarded-For` is believed."""

    token_lifetime: int = Field(default=0, ge=0)
    """Seconds an access token lives; 0 means until revoked, as on Mastodon."""

    avatar_size_limit: int = Field(default=8 * 1024 * 1024, gt=0)
    """Largest avatar or header image accepted, in bytes."""

    media_size_limit: int = Field(default=20 * 1024 * 1024, gt=0)
    """Largest photo upload accepted, in bytes."""

    media_max_pixels: int = Field(default=50_000_000, gt=0)
    """Most pixels a photo may have, checked from its header before decoding."""

    media_min_side: int = Field(default=32, gt=0)
    """Fewest pixels a photo may have on its shorter side."""

    media_workers: int = Field(default=2, gt=0, le=64)
    """Threads that process photos (libvips runs outside the GIL)."""

    media_storage: Literal["local", "s3"] = "local"
    """Where files go: `local` (under the data dir) or `s3` (an S3-compatible bucket)."""

    media_base_url: str | None = None
    """Public URL prefix of stored files, e.g. a CDN in front of the bucket."""

    s3_endpoint: str | None = None
    """The S3 endpoint URL; unset means AWS's own for the region."""

    s3_bucket: str | None = None
    """The bucket that holds every stored file; required when `media_storage` is `s3`."""

    s3_region: str = "us-east-1"
    """The bucket's region (signs requests; names the AWS host when no endpoint is set)."""

    s3_access_key: str | None = None
    """Access key id; unset means the usual AWS credential chain."""

    s3_secret_key: str | None = None
    """Secret access key, paired with `s3_access_key`."""

    fanout_threshold: int = Field(default=10_000, ge=0)
    """Authors with at most this many followers have each post pushed into every
    follower's home feed when published; more followers ("celebrities") and their recent
    posts are merged into their followers' home timelines when read instead."""

    feed_size: int = Field(default=800, gt=0)
    """Most post ids kept in one home feed; older ones drop off the end."""

    streaming_heartbeat: float = Field(default=15.0, gt=0, le=120)
    """Seconds between heartbeats on live streams (SSE comments); each one also checks
    that the stream's token is still valid, so a revoked token ends its streams."""

    vapid_private_key: str | None = None
    """Signs Web Push requests (VAPID): a P-256 private key as the base64url of its 32 raw
    bytes, as Mastodon's `VAPID_PRIVATE_KEY`; unset means one derived from the secret key.
    Changing it invalidates every push subscription (browsers bind them to the key)."""

    vapid_contact: str | None = None
    """The VAPID `sub` claim, how push services reach the operator: `mailto:…` or
    `https://…`; unset means `https://<host>` of an https public URL, else
    `mailto:admin@localhost`."""

    push_allow_http_loopback: bool = False
    """Accept `http://` Web Push endpoints on loopback hosts (127.0.0.0/8, ::1,
    `localhost`), for tests and local development; otherwise endpoints must be https."""

    log_level: str = "INFO"
    """Lowest level written to the JSON log."""

    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Where `tessera worker` answers Prometheus' `GET /metrics` (the API processes serve
    it on their own port); unset means no listener."""

    metrics_host: str = "127.0.0.1"
    """The address of `tessera worker`'s metrics listener (`0.0.0.0` for every interface)."""

    shutdown_timeout: int = Field(default=20, gt=0, le=600)
    """Seconds a stopping process (SIGTERM) gives the requests and event handlers under
    way to finish; then it cuts them off (a cut handler's message is redelivered)."""

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// (or sqlite+aiosqlite://)")
        return value or None

    @field_validator("database_replica_url")
    @classmethod
    def _known_replica(cls, value: str | None) -> str | None:
        if value and not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must start with postgresql+asyncpg://")
        return value or None

    @model_validator(mode="after")
    def _replica_of_postgresql(self) -> Settings:
        if self.database_replica_url and self.embedded:
            raise ValueError(
                "TESSERA_DATABASE_REPLICA_URL needs TESSERA_DATABASE_URL on PostgreSQL "
                "(SQLite has no replicas)"
            )
        return self

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @model_validator(mode="after")
    def _cluster_url(self) -> Settings:
        if self.redis_cluster:
            url = self.redis_url or ""
            if not url.startswith(("redis://", "rediss://")):
                raise ValueError("TESSERA_REDIS_CLUSTER needs a redis:// or rediss:// URL")
            if urlsplit(url).path not in ("", "/", "/0"):
                raise ValueError("a Redis Cluster has only database 0 (TESSERA_REDIS_URL)")
        return self

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value and not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return value or None

    @field_validator("public_url", "media_base_url", "s3_endpoint")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value.rstrip("/") if value else None

    @field_validator("vapid_private_key")
    @classmethod
    def _vapid_key(cls, value: str | None) -> str | None:
        if value:
            parse_private_key(value)  # raises ValueError saying what it must be
        return value or None

    @field_validator("vapid_contact")
    @classmethod
    def _vapid_contact(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"mailto:[^@\s]+@[^@\s]+|https://[^/\s]+", value):
            raise ValueError("must be mailto:<address> or https://<host>")
        return value or None

    @field_validator("ratelimit_login", "ratelimit_signup", "ratelimit_api")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_many(value)  # raises ValueError with the offending text
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                ipaddress.ip_network(str(item), strict=False)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.media_storage == "s3" and not self.s3_bucket:
            raise ValueError("TESSERA_S3_BUCKET must be set when TESSERA_MEDIA_STORAGE=s3")
        return self

    @property
    def embedded(self) -> bool:
        """True when running on SQLite (one process, migrations applied by `serve`)."""
        return self.effective_database_url.startswith("sqlite")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'tessera.db'}"

    @cached_property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    @cached_property
    def signing_key(self) -> bytes:
        """The secret key, generated once and kept in the data dir when not configured."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning any invalid value into one `ConfigError` line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            raise ConfigError(f"invalid settings: {message}") from None
        field = str(first["loc"][0]).upper()
        raise ConfigError(f"invalid setting TESSERA_{field}: {message}") from None

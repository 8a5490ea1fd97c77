"""Which Redis client a process uses: one server, or a Redis Cluster (`TESSERA_REDIS_CLUSTER`).

Both clients offer the same commands, so caches, feeds and rate limits are written once.
What a cluster changes: a command, transaction or script may only touch keys of one hash
slot. Keys that are used together therefore carry a hash tag (`{…}`, the only part Redis
hashes): `owner_tag()` gives every key about one account the tag of the account's logical
shard (`core.ids`), so an account's keys share a slot, and writes to many accounts' keys
can be grouped into at most `SHARDS` slots (the feed fan-out does).

Live events use classic pub/sub, which a cluster broadcasts to every node: a plain client
of the node named in `TESSERA_REDIS_URL` serves them (`pubsub_client()`).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from tessera.core.config import Settings
from tessera.core.ids import shard_of

__all__ = ["RedisClient", "open_redis", "owner_tag", "pubsub_client"]

RedisClient = Redis | RedisCluster
"""What `Runtime.redis` holds in the scaled mode."""


def open_redis(settings: Settings) -> RedisClient | None:
    """The process's client for keys: none without `TESSERA_REDIS_URL`; with
    `TESSERA_REDIS_CLUSTER`, a cluster client that found the other nodes from the one in
    the URL."""
    if not settings.redis_url:
        return None
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url)
    return Redis.from_url(settings.redis_url)


def pubsub_client(settings: Settings, redis: RedisClient) -> Redis:
    """The client live events go through: the key client itself on one server; on a
    cluster, a plain client of the URL's node (cluster clients refuse pipelined PUBLISH,
    and any node relays classic pub/sub to the whole cluster)."""
    if isinstance(redis, Redis):
        return redis
    assert settings.redis_url is not None
    return Redis.from_url(settings.redis_url)


def owner_tag(owner_id: int) -> str:
    """The hash tag of every key about one account: its logical shard, so that its keys
    share a slot and a batch over many accounts spans at most `SHARDS` slots."""
    return f"{{s{shard_of(owner_id)}}}"

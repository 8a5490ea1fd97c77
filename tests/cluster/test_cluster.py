"""`tessera cluster --api 3 --workers 1`, the real command, through its nginx: client
addresses, the photo cache, live streams, and the fault tests: RabbitMQ cut off for 10 s
while posts are made (fault 3), Redis emptied during reads (4), and one of the three API
processes killed under steady load (1). RabbitMQ is reached through a proxy the test can
cut; Redis is flushed of this module's keys only (it is shared with the whole suite)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import orjson
import pytest
import yaml
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from tessera.cluster.processes import answers_ready
from tests.api.streaming import DEADLINE, open_stream
from tests.broker import TcpProxy
from tests.cluster.conftest import SCALED_ONLY, Cluster
from tests.conftest import (
    REDIS_URL,
    Backend,
    OAuthClient,
    User,
    register_oauth_client,
    sign_up_user,
)
from tests.posts.helpers import STATUSES, photo, publish, upload

pytestmark = [pytest.mark.cluster, SCALED_ONLY]

CLIENTS = 8
"""Concurrent clients of the load, each a person with a token of their own."""
TARGET_RATE = 160.0
"""Requests per second the load aims at (it must reach at least MIN_RATE)."""
MIN_RATE = 100.0
LOAD_SECONDS = 20.0
KILL_AT = 8.0
"""Seconds into the load when one of the three API processes gets SIGKILL."""
MAX_FAILED = 0.005
RABBITMQ_OUTAGE = 10.0
"""Seconds RabbitMQ is cut off while an author keeps posting."""
DELIVERY_DEADLINE = 60.0
FLUSH = """
local keys = redis.call('KEYS', ARGV[1])
for i = 1, #keys, 1000 do
    redis.call('DEL', unpack(keys, i, math.min(i + 999, #keys)))
end
return #keys
"""
"""Deletes every key matching a pattern at once, as FLUSHDB empties a database (a SCAN
and DEL from outside would split a feed from its marker, which no flush can)."""


@pytest.fixture(scope="module")
async def http(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def oauth_app(http: httpx.AsyncClient) -> OAuthClient:
    return await register_oauth_client(http)


async def follow(http: httpx.AsyncClient, user: User, target: User) -> None:
    response = await http.post(f"/api/v1/accounts/{target.id}/follow", headers=user.auth)
    assert response.status_code == 200, response.text


def refusal(env: dict[str, str], *args: str) -> str:
    """What `tessera cluster <args>` says when it refuses to start (exit status 1)."""
    command = [sys.executable, "-m", "tessera", "cluster", *args]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result
    return result.stderr.strip()


def test_the_cluster_refuses_to_start_without_the_scaled_backend(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_DATA_DIR"] = str(tmp_path)
    assert refusal(env, "--api", "2") == (
        "tessera: the cluster needs PostgreSQL: set TESSERA_DATABASE_URL "
        "(SQLite serves one process)"
    )


def test_a_second_cluster_on_a_port_in_use_is_refused(
    cluster: Cluster, cluster_env: dict[str, str]
) -> None:
    port = cluster.url.rsplit(":", 1)[1]
    assert refusal(cluster_env, "--port", port) == f"tessera: 127.0.0.1:{port} is already in use"


async def test_each_client_address_is_the_one_nginx_saw(cluster: Cluster) -> None:
    """Without a token the API budget is per client address: behind nginx that is the
    address nginx saw (its X-Forwarded-For), never one the client wrote itself."""

    async def remaining(source: str, headers: dict[str, str] | None = None) -> int:
        transport = httpx.AsyncHTTPTransport(local_address=source)
        async with httpx.AsyncClient(transport=transport, base_url=cluster.url) as client:
            response = await client.get("/api/v1/instance", headers=headers)
        assert response.status_code == 200, response.text
        return int(response.headers["x-ratelimit-remaining"])

    first = await remaining("127.0.0.2")
    spoofed = await remaining("127.0.0.2", {"X-Forwarded-For": "198.51.100.7"})
    other = await remaining("127.0.0.3")
    assert spoofed == first - 1, "the same client, whatever it claims"
    assert other == first, "another address has a budget of its own"


async def test_photos_are_served_from_the_nginx_cache(
    cluster: Cluster, http: httpx.AsyncClient, oauth_app: OAuthClient
) -> None:
    user = await sign_up_user(http, oauth_app, "cached")
    data = photo(640, 480)
    media = await http.get(f"/api/v1/media/{await upload(http, user, data)}", headers=user.auth)
    url = media.json()["url"]
    assert url.startswith(f"{cluster.url}/media/"), url

    first = await http.get(url)
    second = await http.get(url)
    assert first.status_code == second.status_code == 200
    assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT")
    assert first.content == second.content
    assert first.content[:3] == b"\xff\xd8\xff" or first.content[:4] == b"RIFF"
    assert "immutable" in second.headers["cache-control"]


async def test_live_events_reach_streams_through_nginx(
    cluster: Cluster, http: httpx.AsyncClient, oauth_app: OAuthClient
) -> None:
    """The follow is handled by the worker; the notification crosses Redis to whichever
    API process holds the stream, and nginx passes it on at once (unbuffered)."""
    star = await sign_up_user(http, oauth_app, "star")
    fans = [await sign_up_user(http, oauth_app, "fan") for _ in range(2)]
    async with open_stream(http, star.token) as stream:
        await follow(http, fans[0], star)
        event = await stream.event()
    assert event.event == "notification"
    assert (event.json()["type"], event.json()["account"]["id"]) == ("follow", fans[0].id)

    ws_url = cluster.url.replace("http://", "ws://") + "/api/v1/streaming"
    async with connect(f"{ws_url}?stream=user&access_token={star.token}") as websocket:
        await follow(http, fans[1], star)
        message = orjson.loads(await asyncio.wait_for(websocket.recv(), DEADLINE))
    assert message["event"] == "notification"
    assert orjson.loads(message["payload"])["account"]["id"] == fans[1].id


async def test_every_process_in_the_prometheus_config_answers_metrics(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """The scrape configuration the cluster writes names every API process and worker,
    and each of them serves its metrics there."""
    config = yaml.safe_load((cluster.run_dir / "prometheus.yml").read_text())
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert set(jobs) == {"tessera-api", "tessera-worker"}
    assert len(jobs["tessera-api"]) == len(cluster.api_pids())
    for target in [*jobs["tessera-api"], *jobs["tessera-worker"]]:
        scraped = await http.get(f"http://{target}/metrics")
        assert scraped.status_code == 200, target
        assert "# TYPE" in scraped.text, target


async def home_ids(http: httpx.AsyncClient, user: User) -> list[str]:
    response = await http.get("/api/v1/timelines/home", headers=user.auth, params={"limit": 40})
    assert response.status_code == 200, response.text
    return [status["id"] for status in response.json()]


async def timelines_become(
    http: httpx.AsyncClient, fans: list[User], expected: list[str], cluster: Cluster
) -> None:
    """Return once every fan's home timeline is `expected`; fail after DELIVERY_DEADLINE."""
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while [await home_ids(http, fan) for fan in fans] != [expected] * len(fans):
        if time.monotonic() > deadline:
            seen = [await home_ids(http, fan) for fan in fans]
            pytest.fail(f"timelines {seen}, not {expected}\n{cluster.logs()}")
        await asyncio.sleep(0.2)  # a poll interval


async def test_posts_made_while_rabbitmq_is_stopped_reach_every_follower_once(
    cluster: Cluster, http: httpx.AsyncClient, oauth_app: OAuthClient, rabbitmq: TcpProxy
) -> None:
    author = await sign_up_user(http, oauth_app, "author")
    fans = [await sign_up_user(http, oauth_app, "fan") for _ in range(3)]
    for fan in fans:
        await follow(http, fan, author)
    before = (await publish(http, author, "before"))["id"]
    await timelines_become(http, fans, [before], cluster)

    rabbitmq.down()
    try:
        during: list[str] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + RABBITMQ_OUTAGE
        while (now := loop.time()) < end:
            during.append((await publish(http, author, "while it is down"))["id"])  # a 200
            await asyncio.sleep(max(0.0, min(end, now + 1.0) - loop.time()))  # one a second
        assert [await home_ids(http, fan) for fan in fans] == [[before]] * len(fans), (
            "nothing can have been delivered"
        )
    finally:
        rabbitmq.up()
    await timelines_become(http, fans, [*reversed(during), before], cluster)


async def test_reads_keep_answering_while_redis_is_flushed(
    cluster: Cluster, http: httpx.AsyncClient, oauth_app: OAuthClient, cluster_backend: Backend
) -> None:
    """Feeds, cached tokens and rate-limit counters all go; feeds are rebuilt from
    PostgreSQL on the next read. (Only this module's keys: Redis is shared.)"""
    author = await sign_up_user(http, oauth_app, "flushed")
    fans = [await sign_up_user(http, oauth_app, "reader") for _ in range(2)]
    for fan in fans:
        await follow(http, fan, author)
    posts = [(await publish(http, author, "kept"))["id"] for _ in range(2)]
    expected = list(reversed(posts))
    await timelines_become(http, fans, expected, cluster)
    prefix = cluster_backend.settings_overrides["redis_prefix"]
    redis = Redis.from_url(REDIS_URL)

    async def flush() -> int:
        deleted: int = await redis.eval(FLUSH, 0, f"{prefix}*")
        return deleted

    statuses: list[int] = []

    async def read_all(rounds: int) -> None:
        for _ in range(rounds):
            for fan in fans:
                response = await http.get("/api/v1/timelines/home", headers=fan.auth)
                statuses.append(response.status_code)

    try:
        for _ in range(3):
            assert await flush() > 0
            assert [await home_ids(http, fan) for fan in fans] == [expected] * len(fans)
        flushes = asyncio.gather(*(flush() for _ in range(10)))
        await asyncio.gather(read_all(20), flushes)
    finally:
        await redis.aclose()
    assert set(statuses) == {200}, statuses
    assert [await home_ids(http, fan) for fan in fans] == [expected] * len(fans)


@dataclass
class Load:
    """What the clients saw: every answer's status (0 for no answer at all), and the
    comments that were acknowledged, by the post they answer."""

    statuses: list[int] = field(default_factory=list)
    written: dict[str, set[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(not 200 <= status < 300 for status in self.statuses)


async def steady_load(
    url: str, people: list[tuple[User, str]], load: Load, seconds: float
) -> float:
    """Each person in turn reads (themselves twice, their home timeline, their post, the
    public timeline) and writes a comment on their post, paced so that all together
    they aim at TARGET_RATE; returns the seconds it took.

    The clients are aiohttp's, which cost a fifth of httpx's CPU per request: on two
    cores, the load generator competes with the cluster it measures."""
    interval = len(people) / TARGET_RATE

    async def person(http: aiohttp.ClientSession, user: User, post_id: str, offset: int) -> None:
        requests: list[tuple[str, str, dict[str, str] | None]] = [
            ("GET", "/api/v1/accounts/verify_credentials", None),
            ("GET", "/api/v1/timelines/home", None),
            ("POST", STATUSES, {"status": "steady", "in_reply_to_id": post_id}),
            ("GET", f"{STATUSES}/{post_id}", None),
            ("GET", "/api/v1/accounts/verify_credentials", None),
            ("GET", "/api/v1/timelines/public?limit=10", None),
        ]
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        next_at = loop.time() + offset * interval / len(people)
        turn = offset
        while next_at < end:
            await asyncio.sleep(max(0.0, next_at - loop.time()))  # pacing, not waiting
            next_at += interval
            method, path, form = requests[turn % len(requests)]
            turn += 1
            try:
                async with http.request(method, path, headers=user.auth, data=form) as response:
                    body = await response.read()
            except aiohttp.ClientError as exc:
                load.statuses.append(0)
                load.failures.append(f"{method} {path}: {exc!r}")
                continue
            load.statuses.append(response.status)
            if not 200 <= response.status < 300:
                load.failures.append(f"{method} {path}: {response.status} {body[:200]!r}")
            elif method == "POST":
                load.written.setdefault(post_id, set()).add(orjson.loads(body)["id"])

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url=url, timeout=timeout) as http:
        started = time.monotonic()
        await asyncio.gather(
            *(person(http, user, post_id, n) for n, (user, post_id) in enumerate(people))
        )
        return time.monotonic() - started


async def test_killing_an_api_process_under_load_loses_no_acknowledged_write(
    cluster: Cluster, http: httpx.AsyncClient, oauth_app: OAuthClient
) -> None:
    people = [await sign_up_user(http, oauth_app, "load") for _ in range(CLIENTS)]
    for n, user in enumerate(people):
        await follow(http, user, people[(n + 1) % CLIENTS])
    posts = [(user, (await publish(http, user, "Steady"))["id"]) for user in people]
    victim = "api-2"
    pid = cluster.api_pids()[victim]
    load = Load()

    async def kill_one() -> None:
        await asyncio.sleep(KILL_AT)  # a moment inside the load, not a wait for a result
        os.kill(pid, signal.SIGKILL)

    _, took = await asyncio.gather(kill_one(), steady_load(cluster.url, posts, load, LOAD_SECONDS))

    rate = len(load.statuses) / took
    failed = load.failed / len(load.statuses)
    print(
        f"\nfault 1: {len(load.statuses)} requests in {took:.1f} s = {rate:.0f}/s, "
        f"{load.failed} failed ({failed:.3%}), {sum(map(len, load.written.values()))} writes"
    )
    assert rate >= MIN_RATE, f"only {rate:.0f} requests/s"
    assert failed < MAX_FAILED, "\n".join(load.failures[:20])

    restarted = cluster.wait_for(rf"tessera cluster: {victim} \(pid (?!{pid}\))(\d+)\) ready")
    new_pid = int(restarted.group(1))
    port = int(re.findall(rf"{victim} \(pid \d+\) on 127\.0\.0\.1:(\d+)", cluster.printed())[-1])
    assert new_pid != pid
    assert await answers_ready("127.0.0.1", port), "the restarted process serves again"

    for user, post_id in posts:
        context = await http.get(f"{STATUSES}/{post_id}/context", headers=user.auth)
        assert context.status_code == 200, context.text
        present = {status["id"] for status in context.json()["descendants"]}
        missing = load.written.get(post_id, set()) - present
        assert not missing, f"acknowledged comments lost: {sorted(missing)}"


def test_stopping_the_cluster_stops_every_process_it_started(cluster: Cluster) -> None:
    pids = list(cluster.api_pids().values())
    pids += [
        int(pid) for pid in re.findall(r"(?:nginx|worker-\d+) \(pid (\d+)\)", cluster.printed())
    ]
    assert cluster.stop() == 0
    assert cluster.printed().rstrip().endswith("tessera cluster: stopped")
    alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}") and _not_zombie(pid)]
    assert not alive, f"still running: {alive}"
    assert not (cluster.run_dir / "nginx.pid").exists()
    access_log = (cluster.run_dir / "logs" / "nginx-access.log").read_text()
    assert "/api/v1/streaming" in access_log
    assert "access_token" not in access_log, "the WebSocket's token stays out of the logs"


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False

"""Monitoring: `/metrics` of a real `tessera worker` and `tessera serve` after they handled
an event, the request id in the worker's log line for it, the depth of a broker queue,
and the Prometheus configuration and Grafana dashboard in `deploy/`."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from tessera.core.broker import Consumer, RabbitPublisher
from tessera.core.db import utcnow
from tessera.core.ids import new_id
from tessera.core.monitoring import prometheus_config, refresh_gauges, write_prometheus_config
from tessera.core.outbox import Event, InProcessPublisher, OutboxEvent
from tests.broker import RABBIT_URL, Names
from tests.conftest import MakeBackend, register_oauth_client, sign_up_user, unique_name
from tests.deployment import Deployment, open_deployment
from tests.feed.helpers import home
from tests.posts.helpers import publish
from tests.processes import free_port

DEPLOY = Path(__file__).parents[2] / "deploy"
DEADLINE = 30.0
POLL = 0.1

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Prometheus' text format, parsed: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, deployment: Deployment
) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            if await check():
                return
        except httpx.TransportError:
            pass  # the listener is not up yet
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {DEADLINE}s\n{deployment.log_text()}")
        await asyncio.sleep(POLL)  # a poll interval, not a wait for the outcome


async def add_stale_event(deployment: Deployment, age: timedelta) -> None:
    """An event committed `age` ago and never published, as a crashed process leaves."""
    async with deployment.runtime.engine.begin() as connection:
        await connection.execute(
            insert(OutboxEvent).values(
                id=new_id(), topic="test.stale", payload={}, created_at=utcnow() - age
            )
        )


async def test_a_worker_reports_its_work_and_logs_the_request_behind_each_event(
    make_backend: MakeBackend, tmp_path: Path, broker: Names
) -> None:
    async with open_deployment(make_backend, tmp_path) as deployment:
        await add_stale_event(deployment, timedelta(minutes=2))
        await refresh_gauges(deployment.runtime)
        assert (REGISTRY.get_sample_value("tessera_outbox_oldest_unpublished_seconds") or 0) >= 120

        exchange = broker.exchange(unique_name("metrics"))
        port = free_port()
        deployment.configure(broker_url=RABBIT_URL, broker_exchange=exchange, metrics_port=port)
        deployment.worker()  # starts while the server does
        server = await deployment.serve("--no-worker")
        worker_metrics = f"http://127.0.0.1:{port}/metrics"

        async def outbox_drained() -> bool:
            found = await scrape(worker_metrics)
            return value(found, "tessera_outbox_oldest_unpublished_seconds") == 0

        await eventually(outbox_drained, "the stale event published", deployment)

        trace = f"trace-{secrets.token_hex(6)}"
        async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE) as api:
            oauth = await register_oauth_client(api)
            author, fan = [await sign_up_user(api, oauth, stem) for stem in ("watched", "fan")]
            followed = await api.post(f"/api/v1/accounts/{author.id}/follow", headers=fan.auth)
            assert followed.status_code == 200, followed.text
            post = await publish(api, author, "measured", headers={"X-Request-Id": trace})

            async def fanned_out() -> bool:
                """The worker handled the post, and every event was taken from the queues
                (which the depth gauges show as they read them)."""
                found = await scrape(worker_metrics)
                count = "tessera_event_handling_seconds_count"
                handled = value(found, count, group="feed", topic="post.created")
                queues = [f"{exchange}.{group}" for group in ("feed", "notifications")]
                return (
                    bool(handled)
                    and bool(value(found, "tessera_feed_fanout_seconds_count"))
                    and all(value(found, "tessera_queue_messages", queue=q) == 0 for q in queues)
                )

            await eventually(fanned_out, "the post fanned out by the worker", deployment)
            worker = await scrape(worker_metrics)
            api_side = await scrape(f"{server.url}/metrics")
            assert await home(api, fan) == [post["id"]]

        assert (value(worker, "tessera_feed_fanout_feeds_total") or 0) >= 1
        photos = value(api_side, "tessera_media_processing_seconds_count", kind="photo")
        assert (photos or 0) >= 1
        published = sum(
            value(found, "tessera_outbox_publish_delay_seconds_count") or 0
            for found in (worker, api_side)
        )
        assert published >= 3  # the stale event, the follow, the post

        # One line per event and handler group, under the id of the request behind it.
        [log] = deployment.logs.glob("*-worker.log")
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        handled = [line for line in lines if line.get("topic") == "post.created"]
        assert ("event", "feed", "ok") in {(n["event"], n["group"], n["outcome"]) for n in handled}
        assert {line["request_id"] for line in handled} == {trace}


async def test_a_consumer_counts_the_messages_waiting_in_its_queue(broker: Names) -> None:
    exchange = broker.exchange("depth")
    busy, release = asyncio.Event(), asyncio.Event()

    async def slow(_: Event) -> None:
        busy.set()
        await release.wait()

    handlers = InProcessPublisher(group="feed")
    handlers.subscribe("test.depth", slow)
    consumer = Consumer(RABBIT_URL, exchange, "feed", handlers, prefetch=1)
    publisher = RabbitPublisher(RABBIT_URL, exchange, consumer.group_topics)
    assert await consumer.depth() is None  # not connected yet

    async def depth_becomes(expected: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while (depth := await consumer.depth()) != expected:
            assert time.monotonic() < deadline, f"depth {depth}, not {expected}"
            await asyncio.sleep(POLL)  # a poll interval: RabbitMQ counts as it delivers

    consumer.start()
    try:
        await asyncio.wait_for(consumer.ready.wait(), DEADLINE)
        for _ in range(4):
            await publisher.publish(Event(new_id(), "test.depth", {}, utcnow()))
        await asyncio.wait_for(busy.wait(), DEADLINE)
        await depth_becomes(3)  # one delivered (the prefetch limit), three waiting
        release.set()
        await depth_becomes(0)
    finally:
        await consumer.close()
        await publisher.close()


JOBS = {"tessera-api": ["127.0.0.1:8001", "127.0.0.1:8002"], "tessera-worker": ["[::1]:9101"]}


def test_the_prometheus_configuration_scrapes_every_process(tmp_path: Path) -> None:
    path = write_prometheus_config(tmp_path / "prometheus.yml", JOBS)
    config = yaml.safe_load(path.read_text())
    assert config["global"]["scrape_interval"] == "15s"
    assert {
        job["job_name"]: (job["metrics_path"], job["static_configs"][0]["targets"])
        for job in config["scrape_configs"]
    } == {name: ("/metrics", targets) for name, targets in JOBS.items()}
    promtool = shutil.which("promtool")
    if promtool is not None:  # Debian's prometheus package; not installed for this alone
        result = subprocess.run(
            [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_prometheus_configuration_is_what_tessera_writes() -> None:
    written = (DEPLOY / "prometheus.yml").read_text()
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"]
        for job in yaml.safe_load(written)["scrape_configs"]
    }
    assert set(jobs) == {"tessera-api", "tessera-worker"}
    assert written == prometheus_config(jobs)


def test_the_dashboard_shows_only_series_that_tessera_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    exported = {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("tessera_")
        for suffix in suffixes[family.type]
    }
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    shown = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\btessera_[a-z_]+", target["expr"])
    }
    assert shown <= exported, f"not exported: {shown - exported}"
    wanted = {
        "tessera_http_requests_total",
        "tessera_http_request_duration_seconds_bucket",
        "tessera_queue_messages",
        "tessera_outbox_oldest_unpublished_seconds",
        "tessera_event_handling_seconds_bucket",
        "tessera_feed_fanout_seconds_bucket",
        "tessera_media_processing_seconds_bucket",
    }
    assert wanted <= shown
    boxes = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in dashboard["panels"]]
    assert len(set(boxes)) == len(boxes), "two panels in one place"

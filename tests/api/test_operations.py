"""What operators rely on: health, metrics, request ids, JSON logs and errors, rate limits."""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.accounts.helpers import password_grant, sign_up
from tests.conftest import AppFactory, Backend, MakeUser, OAuthClient

BACKEND = os.environ.get("TESSERA_TEST_BACKEND", "embedded")
GENERATED_ID = re.compile(r"^[0-9a-f]{16}$")


# -- health --------------------------------------------------------------------------------


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_checks_every_backing_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    if BACKEND == "scaled":
        assert body["checks"]["redis"] == "ok"
    else:
        assert "redis" not in body["checks"]


# -- metrics ---------------------------------------------------------------------------------


def metric_value(text: str, name: str, labels: dict[str, str]) -> float:
    """The value of one sample in Prometheus' text format, 0 when absent."""
    sample = re.compile(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$")
    for line in text.splitlines():
        match = sample.match(line)
        if match is None:
            continue
        sample_labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(sample_labels.get(key) == value for key, value in labels.items()):
            return float(match.group(2))
    return 0.0


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("metric")
    labels = {"method": "GET", "route": "/api/v1/accounts/{account_id}", "status": "200"}
    before = metric_value(
        (await client.get("/metrics")).text, "tessera_http_requests_total", labels
    )

    assert (await client.get(f"/api/v1/accounts/{user.id}")).status_code == 200
    assert (await client.get(f"/api/v1/accounts/{user.id}")).status_code == 200

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "tessera_http_requests_total" in text
    assert 'route="/api/v1/accounts/{account_id}"' in text
    assert user.id not in text, "ids never become label values"
    assert metric_value(text, "tessera_http_requests_total", labels) == before + 2
    assert "tessera_http_request_duration_seconds_bucket" in text


async def test_metrics_name_unmatched_routes_without_the_path(
    client: httpx.AsyncClient,
) -> None:
    secret_path = f"/api/v1/nope-{secrets.token_hex(6)}"
    assert (await client.get(secret_path)).status_code == 404
    text = (await client.get("/metrics")).text
    assert secret_path not in text
    assert (
        metric_value(
            text,
            "tessera_http_requests_total",
            {"method": "GET", "route": "unmatched", "status": "404"},
        )
        >= 1
    )


# -- request ids ------------------------------------------------------------------------------


async def test_every_response_has_a_request_id(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user("reqid")
    seen = set()
    for method, path in (
        ("GET", "/health/live"),
        ("GET", "/api/v1/instance"),
        ("GET", "/api/v1/accounts/verify_credentials"),
        ("GET", "/api/v1/accounts/abc"),
        ("GET", "/api/v1/nope"),
        ("DELETE", "/api/v1/instance"),
        ("GET", "/avatars/missing.png"),
        ("GET", "/metrics"),
    ):
        response = await client.request(method, path)
        request_id = response.headers.get("x-request-id")
        assert request_id is not None, (method, path)
        assert GENERATED_ID.match(request_id), request_id
        seen.add(request_id)
    assert len(seen) == 8, "each request gets its own id"
    authed = await client.get("/api/v1/accounts/verify_credentials", headers=user.auth)
    assert GENERATED_ID.match(authed.headers["x-request-id"])


async def test_an_incoming_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    for incoming in ("abc-123_DEF.456", "x" * 64, "0123456789abcdef"):
        response = await client.get("/api/v1/instance", headers={"X-Request-Id": incoming})
        assert response.headers["x-request-id"] == incoming
        assert response.headers.get_list("x-request-id") == [incoming]


@pytest.mark.parametrize("incoming", ["x" * 65, "has space", "semi;colon", "<script>", ""])
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-Id": incoming})
    assert GENERATED_ID.match(response.headers["x-request-id"])


# -- errors are JSON ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/nothing/here", "/nope", "/media/x"])
async def test_an_unknown_route_is_a_json_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": "Record not found"}


async def test_a_wrong_method_is_a_json_405(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("DELETE", "/api/v1/instance"),
        ("POST", "/api/v2/instance"),
        ("PUT", "/api/v1/accounts/verify_credentials"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.json() == {"error": "Method not allowed"}
        assert "GET" in response.headers["allow"]


# -- logs ----------------------------------------------------------------------------------


def log_lines(out: str) -> list[dict[str, Any]]:
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        parsed.append(entry)
    return parsed


def request_line(entries: list[dict[str, Any]], method: str, route: str) -> dict[str, Any]:
    found = [e for e in entries if e.get("event") == "request" and e.get("route") == route]
    assert len(found) == 1, entries
    entry = found[0]
    assert entry["method"] == method
    return entry


async def test_logs_are_json_with_request_ids_and_no_secrets(
    client: httpx.AsyncClient,
    oauth_client: OAuthClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    username = f"logged_{secrets.token_hex(4)}"
    email = f"{username}.secret@example.org"
    password = f"pw-{secrets.token_hex(12)}"
    capsys.readouterr()

    signup = await sign_up(
        client,
        oauth_client.app_token,
        username=username,
        email=email,
        password=password,
        agreement="1",
        locale="en",
    )
    assert signup.status_code == 200, signup.text
    first_token = signup.json()["access_token"]
    out = capsys.readouterr().out
    entry = request_line(log_lines(out), "POST", "/api/v1/accounts")
    assert entry["request_id"] == signup.headers["x-request-id"]
    assert entry["status"] == 200
    assert entry["level"] == "info"
    assert isinstance(entry["duration_ms"], int | float)
    for secret in (password, email, first_token, oauth_client.app_token):
        assert secret not in out

    login = await password_grant(
        client, oauth_client, email, password, "read", headers={"X-Request-Id": "login-trace-1"}
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    failed = await password_grant(client, oauth_client, email, password + "-wrong", None)
    assert failed.status_code in (400, 401)
    out = capsys.readouterr().out
    entries = log_lines(out)
    token_lines = [e for e in entries if e.get("route") == "/oauth/token"]
    assert [e["status"] for e in token_lines] == [200, failed.status_code]
    assert token_lines[0]["request_id"] == "login-trace-1"
    assert token_lines[1]["request_id"] == failed.headers["x-request-id"]
    for secret in (password, email, token, oauth_client.client_secret, username + ".secret"):
        assert secret not in out


async def test_query_strings_stay_out_of_the_logs(
    client: httpx.AsyncClient, make_user: MakeUser, capsys: pytest.CaptureFixture[str]
) -> None:
    user = await make_user("qs")
    capsys.readouterr()
    marker = f"private-{secrets.token_hex(6)}"
    response = await client.get(
        "/api/v1/accounts/lookup", params={"acct": user.username, "junk": marker}
    )
    assert response.status_code == 200
    out = capsys.readouterr().out
    entry = request_line(log_lines(out), "GET", "/api/v1/accounts/lookup")
    assert entry["request_id"] == response.headers["x-request-id"]
    # httpx logs the URL it requested on the test's side; the server's own line must not.
    server_lines = [line for line in out.splitlines() if '"event": "request"' in line]
    assert not any(marker in line for line in server_lines)


# -- the API budget ----------------------------------------------------------------------------


def unique_prefix(backend: Backend) -> str:
    """Inside the session's Redis prefix (so the session cleans it up), yet our own."""
    base = str(backend.settings_overrides.get("redis_prefix", "tessera-test:"))
    return f"{base}budget-{secrets.token_hex(4)}:"


def parse_reset(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_the_api_budget_answers_429_with_headers(
    make_client: AppFactory, backend: Backend
) -> None:
    tight = await make_client(ratelimit_api="2 per minute", redis_prefix=unique_prefix(backend))
    started = datetime.now(UTC)

    first = await tight.get("/api/v1/instance")
    second = await tight.get("/api/v1/instance/")
    third = await tight.get("/api/v1/instance")

    assert first.status_code == 200
    assert second.status_code == 200
    assert [r.headers["x-ratelimit-limit"] for r in (first, second, third)] == ["2", "2", "2"]
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert second.headers["x-ratelimit-remaining"] == "0"

    assert third.status_code == 429
    assert third.headers["content-type"].startswith("application/json")
    assert third.json() == {"error": "Too many requests"}
    assert third.headers["x-ratelimit-remaining"] == "0"
    assert third.headers["x-request-id"]
    for response in (first, second, third):
        reset = parse_reset(response.headers["x-ratelimit-reset"])
        assert reset.tzinfo is not None
        assert started - timedelta(seconds=1) <= reset <= started + timedelta(seconds=61)

    # Only the API is budgeted.
    health = await tight.get("/health/live")
    assert health.status_code == 200
    assert "x-ratelimit-limit" not in health.headers


async def test_each_token_has_its_own_budget(
    make_client: AppFactory, backend: Backend, make_user: MakeUser
) -> None:
    tight = await make_client(ratelimit_api="2 per minute", redis_prefix=unique_prefix(backend))
    user, other = await make_user("budget1"), await make_user("budget2")
    for _ in range(2):
        assert (await tight.get("/api/v1/instance")).status_code == 200
    assert (await tight.get("/api/v1/instance")).status_code == 429

    mine = [
        await tight.get("/api/v1/accounts/verify_credentials", headers=user.auth) for _ in range(3)
    ]
    assert [r.status_code for r in mine] == [200, 200, 429]
    theirs = await tight.get("/api/v1/accounts/verify_credentials", headers=other.auth)
    assert theirs.status_code == 200
    assert theirs.json()["id"] == other.id


async def test_forwarded_for_is_ignored_without_trusted_proxies(
    make_client: AppFactory, backend: Backend
) -> None:
    tight = await make_client(ratelimit_api="2 per minute", redis_prefix=unique_prefix(backend))
    statuses = [
        (
            await tight.get("/api/v1/instance", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        ).status_code
        for n in range(1, 4)
    ]
    assert statuses == [200, 200, 429], "a client cannot buy budget by inventing addresses"


async def test_forwarded_for_decides_the_key_behind_a_trusted_proxy(
    make_client: AppFactory, backend: Backend
) -> None:
    proxied = await make_client(
        ratelimit_api="2 per minute",
        redis_prefix=unique_prefix(backend),
        trusted_proxies="203.0.113.7",
    )

    async def status(forwarded: str | None) -> int:
        headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
        return (await proxied.get("/api/v1/instance", headers=headers)).status_code

    assert [await status("198.51.100.1") for _ in range(3)] == [200, 200, 429]
    assert await status("198.51.100.2") == 200, "another client behind the proxy"
    # The proxy appends the address it saw; whatever the client wrote before it is not
    # believed, so spoofed entries do not give a fresh budget.
    assert await status("10.9.8.7, 198.51.100.1") == 429
    assert await status("1.1.1.1, 198.51.100.2") == 200
    assert await status("2.2.2.2, 198.51.100.2") == 429
    # No header at all: the proxy itself is the client.
    assert [await status(None) for _ in range(3)] == [200, 200, 429]


async def test_a_trusted_network_covers_a_chain_of_proxies(
    make_client: AppFactory, backend: Backend
) -> None:
    proxied = await make_client(
        ratelimit_api="1 per minute",
        redis_prefix=unique_prefix(backend),
        trusted_proxies="203.0.113.0/24, 10.0.0.0/8",
    )

    async def status(forwarded: str) -> int:
        headers = {"X-Forwarded-For": forwarded}
        return (await proxied.get("/api/v1/instance", headers=headers)).status_code

    assert await status("198.51.100.9, 10.0.0.5") == 200
    assert await status("198.51.100.9") == 429, "the same client through one proxy fewer"
    assert await status("198.51.100.10, 10.1.2.3, 203.0.113.99") == 200

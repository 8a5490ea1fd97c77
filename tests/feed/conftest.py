"""Every feed test runs twice: with fan-out on write, and with every author a celebrity."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AppFactory


@pytest.fixture(scope="session")
async def celebrity_client(make_client: AppFactory) -> httpx.AsyncClient:
    """An app whose authors with any follower are all celebrities (read-time merge)."""
    return await make_client(fanout_threshold=0)


@pytest.fixture(params=["fan-out", "celebrities"])
def feed_client(
    request: pytest.FixtureRequest, client: httpx.AsyncClient, celebrity_client: httpx.AsyncClient
) -> httpx.AsyncClient:
    return client if request.param == "fan-out" else celebrity_client

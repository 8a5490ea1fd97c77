"""Every feed test runs twice: with fan-out on write, and with every author a celebrity.

The reliability tests instead get a `deployment`: a backend of their own and the real
`tessera` processes they start, stop and kill on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import AppFactory, MakeBackend
from tests.deployment import Deployment, open_deployment


@pytest.fixture(scope="session")
async def celebrity_client(make_client: AppFactory) -> httpx.AsyncClient:
    """An app whose authors with any follower are all celebrities (read-time merge)."""
    return await make_client(fanout_threshold=0)


@pytest.fixture(params=["fan-out", "celebrities"])
def feed_client(
    request: pytest.FixtureRequest, client: httpx.AsyncClient, celebrity_client: httpx.AsyncClient
) -> httpx.AsyncClient:
    return client if request.param == "fan-out" else celebrity_client


@pytest.fixture
async def deployment(make_backend: MakeBackend, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A backend of its own and the processes the test starts on it."""
    async with open_deployment(make_backend, tmp_path) as made:
        yield made

"""Fixtures of the media tests."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MakeUser, StoredKeys, User
from tests.media.helpers import Refused, files_under, media_count, open_files_in


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own temporary directory, used by everything that asks `tempfile`
    (the multipart parser spools uploads there), so that what is left in it is ours."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture
async def user(make_user: MakeUser) -> User:
    return await make_user("photog")


@pytest.fixture
def refused(stored_keys: StoredKeys, data_dir: Path, private_tmp: Path) -> Refused:
    """Checks that a refused upload leaves nothing behind, with the stores every such
    test watches already bound, so each test only says what it sends."""

    async def check(
        client: httpx.AsyncClient, status: int, send: Callable[[], Awaitable[httpx.Response]]
    ) -> dict[str, Any]:
        """Sends the request; asserts the status, an error text, no stored file, no row,
        no temporary file (in the temp dir or the data dir) and none still held open."""
        keys, rows = await stored_keys(), await media_count(client)
        data_files, temp_files = files_under(data_dir), files_under(private_tmp)

        response = await send()

        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        assert isinstance(body["error"], str)
        assert body["error"]
        assert await stored_keys() == keys
        assert await media_count(client) == rows
        assert files_under(data_dir) == data_files
        assert files_under(private_tmp) == temp_files
        assert open_files_in(str(private_tmp)) == []
        return body

    return check

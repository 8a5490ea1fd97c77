"""Fixtures of the media tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.conftest import MakeUser, User


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

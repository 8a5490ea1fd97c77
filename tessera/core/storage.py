"""File storage with content-addressed keys; the local-directory driver."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

__all__ = ["LocalStorage", "media_path"]


def media_path(key: str) -> str:
    """The URL path a stored file is served at."""
    return f"/media/{key[:2]}/{key[2:4]}/{key}"


class LocalStorage:
    """Files under `<data dir>/media`, named by the SHA-256 of their bytes.

    A key names its content for ever, so the files can be served with immutable
    caching headers and the same upload stored twice takes the space once.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key[2:4] / key

    async def put(self, data: bytes, extension: str) -> str:
        key = f"{hashlib.sha256(data).hexdigest()}.{extension}"
        await asyncio.to_thread(self._write, key, data)
        return key

    def _write(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        temporary.write_bytes(data)
        temporary.replace(path)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

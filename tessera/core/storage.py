"""Where files live: one interface, a local-directory driver and an S3 driver.

Keys are content-addressed and unguessable: an HMAC of the bytes under the instance's
secret, so the same file stored twice takes the space once, a key names its content for
ever (immutable caching), and nobody can probe for a file they do not already have.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

from aiobotocore.session import get_session

from tessera.core.config import Settings

__all__ = ["LocalStorage", "S3Storage", "Storage", "content_key", "open_storage"]


def content_key(secret: bytes, data: bytes, extension: str) -> str:
    """`ab/cd/<64 hex>.<ext>`: an HMAC-SHA256 of the bytes, fanned out over two levels."""
    digest = hmac.new(secret, data, hashlib.sha256).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}.{extension}"


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    def url(self, key: str, base_url: str) -> str:
        """The public URL of a stored file (through the CDN when one is configured)."""
        ...

    async def close(self) -> None: ...


class LocalStorage:
    """Files under `<data dir>/media`, served by Tessera itself at `/media/<key>`."""

    def __init__(self, root: Path, media_base_url: str | None) -> None:
        self.root = root
        self.media_base_url = media_base_url

    def path(self, key: str) -> Path:
        return self.root / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    def _write(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
        partial.write_bytes(data)
        partial.replace(path)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    def url(self, key: str, base_url: str) -> str:
        return f"{self.media_base_url or base_url + '/media'}/{key}"

    async def close(self) -> None:
        return None


class S3Storage:
    """An S3-compatible bucket through aiobotocore; one client for the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket or ""
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                session = get_session()
                self._client = await self._stack.enter_async_context(
                    session.create_client(
                        "s3",
                        endpoint_url=self.settings.s3_endpoint,
                        region_name=self.settings.s3_region,
                        aws_access_key_id=self.settings.s3_access_key,
                        aws_secret_access_key=self.settings.s3_secret_key,
                    )
                )
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        client = await self._s3()
        await client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            CacheControl="public, max-age=31536000, immutable",
        )

    async def delete(self, *keys: str) -> None:
        if keys:
            client = await self._s3()
            await client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys]}
            )

    def url(self, key: str, base_url: str) -> str:
        if self.settings.media_base_url:
            return f"{self.settings.media_base_url}/{key}"
        if self.settings.s3_endpoint:
            return f"{self.settings.s3_endpoint}/{self.bucket}/{key}"
        # No endpoint means AWS itself, where a bucket has its own host name.
        return f"https://{self.bucket}.s3.{self.settings.s3_region}.amazonaws.com/{key}"

    async def close(self) -> None:
        await self._stack.aclose()


def open_storage(settings: Settings) -> Storage:
    if settings.media_storage == "s3":
        return S3Storage(settings)
    return LocalStorage(settings.data_dir / "media", settings.media_base_url)

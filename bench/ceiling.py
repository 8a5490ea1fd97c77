"""The ceiling for `make bench`: the cheapest FastAPI answer of the size Tessera sends.

One route returns a prebuilt JSON body shaped like a CredentialAccount (~1.1 KB), or the
bytes of the file named by `CEILING_BODY` (the feed benchmark gives it a real home
timeline page), with no middleware, database or authentication, on the same uvicorn
setup as `tessera serve` (uvloop + httptools, one process, no access log). Tessera's
req/s divided by this one's is the share of the framework's throughput that Tessera's own
work leaves over.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from fastapi import FastAPI
from fastapi.responses import Response

__all__ = ["BODY", "app"]

_ACCOUNT = {
    "id": "113912786436227072",
    "username": "benchmark",
    "acct": "benchmark",
    "display_name": "Benchmark Person",
    "locked": False,
    "bot": False,
    "discoverable": True,
    "indexable": False,
    "group": False,
    "hide_collections": False,
    "created_at": "2026-01-01T00:00:00.000Z",
    "note": "<p>Photos of light, concrete and the occasional cat.</p>",
    "url": "http://127.0.0.1:8000/@benchmark",
    "uri": "http://127.0.0.1:8000/users/benchmark",
    "avatar": "http://127.0.0.1:8000/avatars/missing.png",
    "avatar_static": "http://127.0.0.1:8000/avatars/missing.png",
    "header": "http://127.0.0.1:8000/headers/missing.png",
    "header_static": "http://127.0.0.1:8000/headers/missing.png",
    "followers_count": 1234,
    "following_count": 321,
    "statuses_count": 87,
    "last_status_at": "2026-01-01",
    "noindex": False,
    "emojis": [],
    "roles": [],
    "fields": [],
    "source": {
        "privacy": "public",
        "sensitive": False,
        "language": "en",
        "note": "Photos of light, concrete and the occasional cat.",
        "fields": [],
        "follow_requests_count": 0,
        "hide_collections": False,
        "discoverable": True,
        "indexable": False,
        "attribution_domains": [],
    },
    "role": {
        "id": "-99",
        "name": "",
        "permissions": "0",
        "color": "",
        "highlighted": False,
    },
}
_FILE = os.environ.get("CEILING_BODY")
BODY = Path(_FILE).read_bytes() if _FILE else orjson.dumps(_ACCOUNT)

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/ceiling")
async def ceiling() -> Response:
    return Response(BODY, media_type="application/json")


@app.get("/health/ready")
async def ready() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")

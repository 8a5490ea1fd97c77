"""The nginx configuration we recommend in front of Tessera, and the one `tessera cluster`
runs: the same text, with the servers and paths of each place filled in.

`render_site()` writes the part that goes into nginx's `http` block (`deploy/nginx.conf`
is it, for an example deployment); `render_main()` wraps it into a whole configuration
that keeps every file nginx writes under a directory of its own, for `tessera cluster`.
`python -m tessera.cluster.deploy` writes the examples in `deploy/` again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NGINX", "Site", "render_main", "render_site", "upload_limit_kib"]

NGINX = "/usr/sbin/nginx"
"""Debian's nginx (`apt-get install nginx`, or `make system-packages`)."""

FORM_OVERHEAD_KIB = 1024
"""Room for the multipart form around the largest file a request may carry."""


def upload_limit_kib(media_size_limit: int, avatar_size_limit: int) -> int:
    """nginx's `client_max_body_size`, in KiB: the largest request Tessera accepts (a photo,
    or an avatar and a header together) and its form, so nginx refuses nothing Tessera
    would take and Tessera itself answers (in JSON) for what is too large."""
    largest = max(media_size_limit, 2 * avatar_size_limit)
    return -(-largest // 1024) + FORM_OVERHEAD_KIB


@dataclass(frozen=True)
class Site:
    """Where things are; how nginx treats requests is the same everywhere."""

    upstreams: Sequence[str]
    """`host:port` of every `tessera serve` process."""
    listen: str
    server_name: str
    cache_dir: str
    """The media cache (the CDN edge): nginx creates it."""
    access_log: str
    upload_limit_kib: int
    media_origin: str | None = None
    """Where `/media/` comes from: the bucket's URL, ending in `/` (with
    `TESSERA_MEDIA_STORAGE=s3`, and `TESSERA_MEDIA_BASE_URL` pointing at this server's
    `/media`); None when the API processes serve stored files (local storage)."""


def render_site(site: Site) -> str:
    servers = "\n".join(
        f"    server {upstream} max_fails=3 fail_timeout=10s;" for upstream in site.upstreams
    )
    media_origin = site.media_origin or "http://tessera_api"
    return f"""\
# Tessera behind nginx: load balancer, live streams, and a cache for photos (the CDN edge).
# It goes in nginx's http block (Debian: /etc/nginx/conf.d/tessera.conf). `tessera cluster`
# runs this same configuration with its own processes and paths.

# No query strings: streaming clients may put their access token there.
log_format tessera '$remote_addr [$time_local] "$request_method $uri $server_protocol" '
                   '$status $body_bytes_sent $request_time '
                   'upstream=$upstream_addr/$upstream_status '
                   'cache=$upstream_cache_status request_id=$request_id';

# Every `tessera serve --no-worker` process. Passive health checks: a server that fails
# max_fails times within fail_timeout (refused connections, resets, timeouts) is left
# out for fail_timeout, then tried again. The zone makes every nginx worker share one
# count (without it each worker counts alone and may mark a server down on its own).
upstream tessera_api {{
    zone tessera_api 64k;
{servers}
    keepalive 32;
}}

# Stored files are immutable (content-addressed keys): keep them for as long as they
# are read.
proxy_cache_path {site.cache_dir} levels=1:2 keys_zone=tessera_media:16m
                 max_size=10g inactive=30d use_temp_path=off;

# WebSocket upgrades pass through; every other request keeps its upstream connection
# alive ("Connection: " empty).
map $http_upgrade $tessera_connection {{
    default upgrade;
    ''      '';
}}

server {{
    listen {site.listen};
    server_name {site.server_name};
    access_log {site.access_log} tessera;
    server_tokens off;

    # The largest request Tessera accepts (TESSERA_MEDIA_SIZE_LIMIT, or an avatar and
    # a header of TESSERA_AVATAR_SIZE_LIMIT each) plus its form.
    client_max_body_size {site.upload_limit_kib}k;

    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    # nginx is the edge: the address it saw replaces whatever the client claimed. Put
    # nginx's address in the API processes' TESSERA_TRUSTED_PROXIES so they believe it.
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Request-Id $request_id;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $tessera_connection;
    proxy_connect_timeout 2s;
    proxy_read_timeout 60s;

    # Another server gets the request when this one refused the connection, reset it or
    # timed out. Once sent, a POST or PATCH is never passed on (no `non_idempotent`),
    # so no write runs twice; a 503 from Tessera (its database is down) is answered as
    # is, with its Retry-After, rather than tried everywhere.
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 3;
    proxy_next_upstream_timeout 10s;

    location / {{
        proxy_pass http://tessera_api;
    }}

    # Server-Sent Events and WebSocket: unbuffered, and open for as long as the client
    # listens (heartbeats every TESSERA_STREAMING_HEARTBEAT seconds keep them alive).
    location /api/v1/streaming {{
        proxy_pass http://tessera_api;
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_cache off;
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
    }}

    # Photos: served from the cache after the first read. The origin is the bucket
    # (e.g. https://BUCKET.s3.REGION.amazonaws.com/), or the API processes when they keep
    # the files themselves (local storage, one machine).
    location /media/ {{
        proxy_pass {media_origin};
        proxy_set_header Host $proxy_host;
        proxy_set_header Connection "";
        proxy_set_header Cookie "";
        proxy_set_header Authorization "";
        proxy_ssl_server_name on;
        proxy_cache tessera_media;
        proxy_cache_valid 200 30d;
        proxy_cache_valid 404 1m;
        proxy_cache_lock on;
        proxy_cache_revalidate on;
        proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
        add_header X-Cache-Status $upstream_cache_status always;
    }}

    # Metrics are for Prometheus, which scrapes each process directly.
    location = /metrics {{
        return 404;
    }}
}}
"""


def render_main(site_file: Path, run_dir: Path, work_dir: Path, shutdown_timeout: int) -> str:
    """A whole configuration around the site file: pid, logs and nginx's temporary files
    in `run_dir` and `work_dir`, nothing in /etc/nginx or /var."""
    return f"""\
# Written by `tessera cluster`; the site itself is {site_file.name}.
pid {run_dir / "nginx.pid"};
error_log {run_dir / "logs" / "nginx-error.log"} warn;
worker_processes auto;
worker_shutdown_timeout {shutdown_timeout}s;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    client_body_temp_path {work_dir / "body"};
    proxy_temp_path {work_dir / "proxy"};
    fastcgi_temp_path {work_dir / "fastcgi"};
    uwsgi_temp_path {work_dir / "uwsgi"};
    scgi_temp_path {work_dir / "scgi"};

    include {site_file};
}}
"""

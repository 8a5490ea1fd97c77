"""The nginx configurations in `deploy/`, rendered from the one template for example
deployments; `python -m tessera.cluster.deploy` writes them again after a change."""

from __future__ import annotations

from pathlib import Path

from tessera.cluster.nginx import Site, render_site, upload_limit_kib
from tessera.core.config import Settings

__all__ = ["DEPLOY_DIR", "EXAMPLES", "write"]

DEFAULT_UPLOAD_LIMIT_KIB = upload_limit_kib(
    Settings.model_fields["media_size_limit"].default,
    Settings.model_fields["avatar_size_limit"].default,
)
"""For the default TESSERA_MEDIA_SIZE_LIMIT and TESSERA_AVATAR_SIZE_LIMIT."""

EXAMPLES: dict[str, Site] = {
    "nginx.conf": Site(
        upstreams=["10.0.0.11:8000", "10.0.0.12:8000", "10.0.0.13:8000"],
        listen="80",
        server_name="tessera.example.org",
        cache_dir="/var/cache/nginx/tessera",
        access_log="/var/log/nginx/tessera.access.log",
        upload_limit_kib=DEFAULT_UPLOAD_LIMIT_KIB,
        media_origin="http://10.0.0.20:9000/tessera-media/",
    ),
    "compose/nginx.conf": Site(
        upstreams=["api:8000"],
        listen="80",
        server_name="_",
        cache_dir="/var/cache/nginx/tessera",
        access_log="/dev/stdout",
        upload_limit_kib=DEFAULT_UPLOAD_LIMIT_KIB,
        media_origin="http://minio:9000/tessera/",
    ),
}
"""The files in `deploy/`: three API machines and a MinIO machine holding the photos, and
the compose file's nginx (Docker's DNS gives `api` one address per replica)."""

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"


def write() -> None:
    for name, example in EXAMPLES.items():
        (DEPLOY_DIR / name).parent.mkdir(parents=True, exist_ok=True)
        (DEPLOY_DIR / name).write_text(render_site(example))
        print(f"wrote {DEPLOY_DIR / name}")


if __name__ == "__main__":
    write()

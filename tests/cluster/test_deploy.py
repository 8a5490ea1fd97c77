"""The deployment files in `deploy/`: the nginx configuration we recommend is the one
`tessera cluster` runs and nginx accepts it; every setting the files name exists."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tessera.cluster.deploy import DEPLOY_DIR, EXAMPLES
from tessera.cluster.nginx import Site, render_main, render_site
from tessera.core.config import Settings

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_deploy_files_are_the_configuration_the_cluster_runs(name: str) -> None:
    written = (DEPLOY_DIR / name).read_text()
    assert written == render_site(EXAMPLES[name]), (
        f"deploy/{name} is out of date: python -m tessera.cluster.deploy writes it again"
    )


def nginx_test(site: Site, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the site inside the cluster's configuration, every path in tmp_path."""
    work = tmp_path / "work"
    (tmp_path / "logs").mkdir()
    work.mkdir()
    site = replace(site, cache_dir=str(work / "cache"), access_log=str(tmp_path / "access.log"))
    (tmp_path / "tessera.conf").write_text(render_site(site))
    main = tmp_path / "nginx.conf"
    main.write_text(render_main(tmp_path / "tessera.conf", tmp_path, work, 5))
    command = [
        *("/usr/sbin/nginx", "-t", "-p", str(tmp_path), "-c", str(main)),
        *("-e", str(tmp_path / "logs" / "nginx-error.log")),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("media_origin", [EXAMPLES["nginx.conf"].media_origin, None])
def test_nginx_accepts_the_configuration(
    nginx: str, tmp_path: Path, media_origin: str | None
) -> None:
    """With photos from a bucket, and from the API processes (local storage)."""
    site = replace(EXAMPLES["nginx.conf"], media_origin=media_origin)
    result = nginx_test(site, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_refuses_a_broken_configuration(nginx: str, tmp_path: Path) -> None:
    """The check above can fail: a server without a port is refused."""
    result = nginx_test(replace(EXAMPLES["nginx.conf"], upstreams=["10.0.0.11:"]), tmp_path)
    assert result.returncode != 0
    assert "invalid port" in result.stderr


def test_the_deploy_files_name_only_settings_that_exist() -> None:
    known = {f"TESSERA_{name.upper()}" for name in Settings.model_fields}
    named: dict[str, set[str]] = {}
    for path in DEPLOY_DIR.rglob("*"):
        if path.is_file():
            for variable in re.findall(r"\bTESSERA_[A-Z0-9_]+", path.read_text()):
                named.setdefault(variable, set()).add(path.name)
    unknown = {variable: files for variable, files in named.items() if variable not in known}
    assert not unknown, f"not settings: {unknown}"
    assert "TESSERA_DATABASE_URL" in named

"""Settings: bad values stop `tessera` in one line; the secret key is made once and kept."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import sys
from pathlib import Path

import asyncpg
import pytest

from tessera.core.config import ConfigError, load_settings
from tests.conftest import PG_ADMIN_DSN

BACKEND = os.environ.get("TESSERA_TEST_BACKEND", "embedded")
DEADLINE_S = 60


def clean_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any TESSERA_* setting, plus these."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TESSERA_")}
    env["TESSERA_DATA_DIR"] = str(data_dir)
    env.update({f"TESSERA_{key.upper()}": value for key, value in settings.items()})
    return env


async def run_tessera(
    cwd: Path, env: dict[str, str], *args: str, limit_s: float = DEADLINE_S
) -> tuple[int, str, str]:
    """`python -m tessera <args>`; (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tessera",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"`tessera {' '.join(args)}` did not exit in {limit_s} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ratelimit_api", "bogus"),
        ("ratelimit_login", "lots per fortnight"),
        ("database_url", "mysql://x"),
        ("redis_url", "memcached://x"),
        ("trusted_proxies", "not-an-ip"),
        ("trusted_proxies", "10.0.0.1, 300.1.1.1"),
        ("public_url", "photos.example"),
        ("log_level", "chatty"),
        ("avatar_size_limit", "0"),
        ("token_lifetime", "-5"),
        ("registrations_open", "perhaps"),
    ],
)
async def test_a_bad_setting_stops_the_command_in_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    data_dir = tmp_path / "data"
    code, out, err = await run_tessera(tmp_path, clean_env(data_dir, **{name: value}), "migrate")
    assert code != 0
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"tessera: invalid setting TESSERA_{name.upper()}"), err
    assert "Traceback" not in err
    assert not (data_dir / "tessera.db").exists(), "nothing is touched before the check"


def test_load_settings_raises_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir=tmp_path, ratelimit_api="bogus")
    message = str(caught.value)
    assert message.startswith("invalid setting TESSERA_RATELIMIT_API")
    assert "\n" not in message


def test_a_redis_cluster_is_named_by_one_node_and_has_database_0_only(tmp_path: Path) -> None:
    node = "redis://:secret@10.0.0.5:7000"
    assert load_settings(data_dir=tmp_path, redis_url=node, redis_cluster=True).redis_cluster
    with pytest.raises(ConfigError, match="TESSERA_REDIS_CLUSTER needs a redis:// or rediss://"):
        load_settings(data_dir=tmp_path, redis_url=None, redis_cluster=True)
    with pytest.raises(ConfigError, match="only database 0"):
        load_settings(data_dir=tmp_path, redis_url=f"{node}/2", redis_cluster=True)


def test_settings_are_parsed(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        trusted_proxies="203.0.113.7, 10.0.0.0/8",
        public_url="https://photos.example/",
        log_level="debug",
        database_url=None,
    )
    assert settings.trusted_proxies == ["203.0.113.7", "10.0.0.0/8"]
    assert len(settings.trusted_networks) == 2
    assert settings.public_url == "https://photos.example"
    assert settings.log_level == "DEBUG"
    assert settings.embedded is True
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'tessera.db'}"


def test_the_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    first = load_settings(data_dir=data_dir, secret_key=None).signing_key
    second = load_settings(data_dir=data_dir, secret_key=None).signing_key
    assert first == second
    assert len(first) >= 32
    key_file = data_dir / "secret_key"
    assert key_file.read_text().strip().encode() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    elsewhere = load_settings(data_dir=tmp_path / "other", secret_key=None).signing_key
    assert elsewhere != first


def test_a_configured_secret_key_wins(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, secret_key="configured")
    assert settings.signing_key == b"configured"
    assert not (tmp_path / "secret_key").exists()


async def test_migrate_succeeds_on_a_fresh_embedded_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, out, err = await run_tessera(tmp_path, clean_env(data_dir), "migrate")
    assert code == 0, err
    assert "up to date" in out
    assert (data_dir / "tessera.db").is_file()
    again, _, err = await run_tessera(tmp_path, clean_env(data_dir), "migrate")
    assert again == 0, err


@pytest.mark.skipif(BACKEND != "scaled", reason="needs PostgreSQL (the scaled backend)")
async def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    name = f"tessera_empty_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        host = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        env = clean_env(tmp_path / "data", database_url=f"{host}/{name}")
        code, _, err = await run_tessera(tmp_path, env, "serve", "--port", "0")
        assert code != 0
        assert "tessera migrate" in err
        assert "Traceback" not in err

        migrated, out, err = await run_tessera(tmp_path, env, "migrate")
        assert migrated == 0, err
        assert "up to date" in out
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

"""`make bench`: Tessera's authenticated req/s beside a ceiling measured in the same run.

Starts `tessera serve` (embedded; with `--scaled` also on PostgreSQL + Redis) and the
minimal app in `bench/ceiling.py`, each one process on a free port, drives both with
`wrk --latency`; then times the photo pipeline (`bench/media.py`). Prints both Markdown
tables and writes them to `bench/results/latest.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.md"
GENEROUS = "100000000 per minute"
ENDPOINT = "/api/v1/accounts/verify_credentials"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Measure:
    rps: float
    p50_ms: float
    p99_ms: float


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk not found; running `apt-get update` and `apt-get install -y wrk`")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("bench: wrk is still missing after apt-get install")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def process(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Iterator[str]:
    """Run a server on a free port until /health/ready answers; yield its base URL."""
    port = free_port()
    log = workdir / f"{name}.log"
    with log.open("wb") as output:
        proc = subprocess.Popen(
            [*args, "--port", str(port)], env=env, cwd=ROOT, stdout=output, stderr=output
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench: {name} did not start:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # poll interval
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def user_token(url: str) -> str:
    """Register an app and a user the way a client would; return the user's token."""
    scopes = "read write follow push"
    with httpx.Client(base_url=url, timeout=30) as client:

        def post(path: str, token: str | None = None, **form: str) -> dict[str, str]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            answer: dict[str, str] = (
                client.post(path, data=form, headers=headers).raise_for_status().json()
            )
            return answer

        oob = "urn:ietf:wg:oauth:2.0:oob"
        app = post("/api/v1/apps", client_name="bench", redirect_uris=oob, scopes=scopes)
        creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
        app_token = post("/oauth/token", grant_type="client_credentials", scope=scopes, **creds)
        name = f"bench_{secrets.token_hex(4)}"
        user = post(
            "/api/v1/accounts",
            app_token["access_token"],
            username=name,
            email=f"{name}@example.org",
            password=f"bench-{secrets.token_hex(8)}",
            agreement="1",
            locale="en",
        )
        client.get(
            ENDPOINT, headers={"Authorization": f"Bearer {user['access_token']}"}
        ).raise_for_status()
        return user["access_token"]


def parse_wrk(output: str) -> Measure:
    def millis(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            sys.exit(f"bench: no {label}% latency in wrk output:\n{output}")
        return float(match[1]) * UNITS[match[2]]

    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        sys.exit(f"bench: wrk saw failed requests:\n{output}")
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rps is None:
        sys.exit(f"bench: no Requests/sec in wrk output:\n{output}")
    return Measure(float(rps[1]), millis("50"), millis("99"))


def run_wrk(wrk: str, url: str, args: argparse.Namespace, token: str | None = None) -> Measure:
    header = ["-H", f"Authorization: Bearer {token}"] if token else []
    base = [wrk, f"-t{args.threads}", f"-c{args.connections}", "--latency", *header]
    subprocess.run([*base, f"-d{args.warmup}s", url], check=True, capture_output=True)
    done = subprocess.run([*base, f"-d{args.duration}s", url], check=True, capture_output=True)
    return parse_wrk(done.stdout.decode())


@contextmanager
def scaled_env(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database (migrated) and Redis prefix, both removed afterwards."""
    name = f"tessera_bench_{secrets.token_hex(6)}"
    prefix = f"tessera-bench-{secrets.token_hex(6)}:"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(args.pg)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    print(f"bench: creating database {name}")
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    host = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    env = {
        "TESSERA_DATABASE_URL": f"{host}/{name}",
        "TESSERA_REDIS_URL": args.redis,
        "TESSERA_REDIS_PREFIX": prefix,
    }
    try:
        subprocess.run(
            [sys.executable, "-m", "tessera", "migrate"], env={**os.environ, **env}, check=True
        )
        yield env
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        redis = Redis.from_url(args.redis)
        keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            redis.delete(*keys)
        redis.close()
        print(f"bench: dropped database {name} and {len(keys)} Redis keys")


def tessera_env(tmp: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A server's environment: its own data dir, rate limits raised through the settings."""
    return {
        **os.environ,
        "TESSERA_DATA_DIR": str(Path(tmp) / "data"),
        "TESSERA_RATELIMIT_API": GENEROUS,
        "TESSERA_RATELIMIT_LOGIN": GENEROUS,
        "TESSERA_RATELIMIT_SIGNUP": GENEROUS,
        **(extra or {}),
    }


def bench_tessera(wrk: str, args: argparse.Namespace, extra: dict[str, str]) -> Measure:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        env = tessera_env(tmp, extra)
        serve = [sys.executable, "-m", "tessera", "serve", "--host", "127.0.0.1"]
        with process("tessera", serve, env, Path(tmp)) as url:
            return run_wrk(wrk, url + ENDPOINT, args, user_token(url))


def bench_ceiling(wrk: str, args: argparse.Namespace) -> Measure:
    uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(ROOT / "bench"),
        "ceiling:app",
        "--host",
        "127.0.0.1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="tessera-ceiling-") as tmp,
        process("ceiling", uvicorn, dict(os.environ), Path(tmp)) as url,
    ):
        return run_wrk(wrk, url + "/ceiling", args)


def table(rows: list[tuple[str, Measure, Measure]]) -> str:
    today = datetime.now(UTC).date().isoformat()
    lines = [
        "| endpoint | req/s | p50 | p99 | ceiling req/s | ratio | backend | date | machine |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for backend, m, top in rows:
        lines.append(
            f"| `GET {ENDPOINT}` | {m.rps:,.0f} | {m.p50_ms:.2f} ms | {m.p99_ms:.2f} ms "
            f"| {top.rps:,.0f} | {m.rps / top.rps:.2f} | {backend} | {today} "
            f"| {os.cpu_count()} cores |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scaled", action="store_true", help="also run on PostgreSQL + Redis")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--photo-runs", type=int, default=7, help="timed runs per pipeline")
    parser.add_argument("--uploads", type=int, default=20, help="photo uploads timed in total")
    args = parser.parse_args()
    wrk = ensure_wrk()
    if os.getloadavg()[0] > 0.5:
        print(f"bench: warning: load average {os.getloadavg()[0]:.1f}; numbers will be noisy")
    rows: list[tuple[str, Measure, Measure]] = []
    for scaled in [False, True] if args.scaled else [False]:
        top = bench_ceiling(wrk, args)  # measured next to each run: the same machine load
        if scaled:
            with scaled_env(args) as env:
                rows.append(("scaled (PostgreSQL + Redis)", bench_tessera(wrk, args, env), top))
        else:
            rows.append(("embedded (SQLite)", bench_tessera(wrk, args, {}), top))
        print(f"bench: {rows[-1][0]}: {rows[-1][1].rps:,.0f} req/s, ceiling {top.rps:,.0f}")
    import media  # here, not above: media imports this module's helpers

    result = f"{table(rows)}\n{media.photo_bench(args.photo_runs, args.uploads)}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(result)
    print(f"\n{result}\n(written to {RESULTS.relative_to(ROOT)})")


if __name__ == "__main__":
    main()

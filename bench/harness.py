"""What every benchmark here shares: servers (and `tessera cluster`) on free ports, `wrk`
runs, the ceiling app, fresh PostgreSQL databases, Redis prefixes and broker exchanges."""

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
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from redis import Redis

from tessera import notifications
from tessera.core.runtime import DEFAULT_GROUP

ROOT = Path(__file__).resolve().parent.parent
GENEROUS = "100000000 per minute"
SCOPES = "read write follow push"
OOB = "urn:ietf:wg:oauth:2.0:oob"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Measure:
    rps: float
    p50_ms: float
    p99_ms: float


def wrk_options(parser: argparse.ArgumentParser) -> None:
    """The options of every `wrk` run, and where PostgreSQL and Redis are."""
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk not found; running `apt-get update` and `apt-get install -y wrk`")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("bench: wrk is still missing after apt-get install")


def warn_if_busy() -> None:
    if os.getloadavg()[0] > 0.5:
        print(f"bench: warning: load average {os.getloadavg()[0]:.1f}; numbers will be noisy")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def process(
    name: str, args: list[str], env: dict[str, str], workdir: Path, ready_line: str | None = None
) -> Iterator[str]:
    """Run a server on a free port until /health/ready answers (or, given `ready_line`,
    until it printed that); yield its base URL."""
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
            if ready_line in log.read_text() if ready_line else _answers_ready(url):
                break
            time.sleep(0.05)  # poll interval
        yield url
    except BaseException:
        errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
        print(f"bench: {name}'s last errors:\n" + "\n".join(errors[-3:])[-6000:])
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def tessera(env: dict[str, str], workdir: Path, name: str = "tessera") -> Iterator[str]:
    """`tessera serve` (one process, as deployed) with this environment."""
    serve = [sys.executable, "-m", "tessera", "serve", "--host", "127.0.0.1"]
    with process(name, serve, env, workdir) as url:
        yield url


@contextmanager
def ceiling(body: bytes | None = None) -> Iterator[str]:
    """The minimal app of `bench/ceiling.py` on the same uvicorn setup as `tessera serve`;
    yields the URL of its one route, which answers `body` (a CredentialAccount if None)."""
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
    with tempfile.TemporaryDirectory(prefix="tessera-ceiling-") as tmp:
        env = dict(os.environ)
        if body is not None:
            (Path(tmp) / "body.json").write_bytes(body)
            env["CEILING_BODY"] = str(Path(tmp) / "body.json")
        with process("ceiling", uvicorn, env, Path(tmp)) as url:
            yield url + "/ceiling"


def oauth_app(client: httpx.Client) -> dict[str, str]:
    """Register a client app; its `client_id` and `client_secret`."""
    app = post(client, "/api/v1/apps", client_name="bench", redirect_uris=OOB, scopes=SCOPES)
    return {"client_id": app["client_id"], "client_secret": app["client_secret"]}


def post(client: httpx.Client, path: str, token: str | None = None, **form: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer: dict[str, str] = client.post(path, data=form, headers=headers).raise_for_status().json()
    return answer


def log_in(client: httpx.Client, app: dict[str, str], username: str, password: str) -> str:
    """A user token by the password grant."""
    grant = {"grant_type": "password", "username": username, "password": password}
    return post(client, "/oauth/token", scope=SCOPES, **grant, **app)["access_token"]


def user_token(url: str) -> str:
    """Register an app and a user the way a client would; return the user's token."""
    with httpx.Client(base_url=url, timeout=30) as client:
        creds = oauth_app(client)
        app_token = post(
            client, "/oauth/token", grant_type="client_credentials", scope=SCOPES, **creds
        )
        name = f"bench_{secrets.token_hex(4)}"
        user = post(
            client,
            "/api/v1/accounts",
            app_token["access_token"],
            username=name,
            email=f"{name}@example.org",
            password=f"bench-{secrets.token_hex(8)}",
            agreement="1",
            locale="en",
        )
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


def run_wrk(
    wrk: str,
    url: str,
    args: argparse.Namespace,
    token: str | None = None,
    script: Path | None = None,
) -> Measure:
    """A warm-up run, then the measured one; `script` is a wrk Lua script (e.g. tokens).
    Slow answers count in the latency (up to 30 s) instead of being dropped as errors."""
    header = ["-H", f"Authorization: Bearer {token}"] if token else []
    lua = ["-s", str(script)] if script else []
    options = [f"-t{args.threads}", f"-c{args.connections}", "--timeout", "30s", "--latency"]
    base = [wrk, *options, *header, *lua]
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
        for start in range(0, len(keys), 10_000):
            redis.delete(*keys[start : start + 10_000])
        redis.close()
        print(f"bench: dropped database {name} and {len(keys)} Redis keys")


@contextmanager
def broker_exchange(url: str) -> Iterator[dict[str, str]]:
    """The settings of a RabbitMQ exchange of this run's own; it and the queues the
    processes declared for it are deleted afterwards."""
    name = f"tessera-bench-{secrets.token_hex(6)}"

    async def delete() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            for group in (DEFAULT_GROUP, notifications.GROUP, "dead"):
                await channel.queue_delete(f"{name}.{group}")
            for exchange in (name, f"{name}.dead"):
                await channel.exchange_delete(exchange)

    try:
        yield {"TESSERA_BROKER_URL": url, "TESSERA_BROKER_EXCHANGE": name}
    finally:
        asyncio.run(delete())
        print(f"bench: deleted broker exchange {name} and its queues")


@dataclass(frozen=True)
class Cluster:
    """A running `tessera cluster`: nginx's URL, and what the cluster printed."""

    url: str
    output: Path
    run_dir: Path

    def pids(self, role: str) -> list[int]:
        """The newest pid of each process of a role (`api`, `worker`, `nginx`)."""
        found = re.findall(rf"tessera cluster: ({role}(?:-\d+)?) \(pid (\d+)\)", self.read())
        return [int(pid) for pid in dict(found).values()]

    def read(self) -> str:
        return self.output.read_text()

    def served(self, pattern: str) -> int:
        """Requests nginx answered with 2xx whose `METHOD /path` matches `pattern`."""
        matcher = re.compile(rf'"(?:{pattern}) HTTP/[\d.]+" 2\d\d ')
        log = self.run_dir / "logs" / "nginx-access.log"
        with log.open() as lines:
            return sum(1 for line in lines if matcher.search(line))


@contextmanager
def cluster(env: dict[str, str], workdir: Path, api: int, workers: int = 1) -> Iterator[Cluster]:
    """`tessera cluster --api N --workers M` on a free port, once it said it is ready.
    Nothing asks nginx before: requests refused by API processes still starting would
    count against them in nginx's passive health checks (`max_fails`), and nginx would
    then answer 502 for up to `fail_timeout`."""
    name = f"cluster-{api}"
    run_dir = workdir / name
    argv = [sys.executable, "-m", "tessera", "cluster", "--api", str(api)]
    argv += ["--workers", str(workers), "--run-dir", str(run_dir)]
    with process(name, argv, env, workdir, "tessera cluster: ready at ") as url:
        yield Cluster(url, workdir / f"{name}.log", run_dir)


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

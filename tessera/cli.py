"""The `tessera` command line: running, operating and filling a Tessera instance."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import getpass
import sys
from pathlib import Path

from tessera import __version__
from tessera.core.cache import MemoryCache
from tessera.core.config import ConfigError, Settings, load_settings
from tessera.core.db import create_engine, migrate, pending_migrations, session_scope, sessionmaker
from tessera.core.errors import TesseraError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tessera {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="with a broker, leave consuming to `tessera worker`",
    )
    worker = commands.add_parser(
        "worker", help="consume the broker's events (needs TESSERA_BROKER_URL)"
    )
    worker.add_argument(
        "--metrics-port", type=int, help="answer GET /metrics here (default TESSERA_METRICS_PORT)"
    )
    worker.add_argument(
        "--metrics-host", help="the metrics listener's address (default TESSERA_METRICS_HOST)"
    )
    cluster = commands.add_parser(
        "cluster",
        help="run nginx, API processes and workers on this machine (scaled backend)",
        description="nginx on --port balances --api `tessera serve --no-worker` processes; "
        "--workers `tessera worker` processes consume the broker. A process that dies is "
        "started again; SIGTERM or SIGINT stops them all.",
    )
    cluster.add_argument("--api", type=int, default=2, help="API processes (default 2)")
    cluster.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    cluster.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    cluster.add_argument("--host", default="127.0.0.1", help="nginx's address (default 127.0.0.1)")
    cluster.add_argument(
        "--run-dir",
        type=Path,
        help="nginx's configuration, pid and the logs (default <TESSERA_DATA_DIR>/cluster)",
    )
    commands.add_parser("migrate", help="apply pending database migrations")
    create = commands.add_parser("createuser", help="create an account")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password", help="the password (asked for when not given; prefer the prompt)"
    )
    seeder = commands.add_parser(
        "seed",
        help="bulk-load a generated social graph (home feeds are rebuilt on first read)",
        description="Bulk-load users (power-law follower counts), follows and photo posts. "
        "No home feed is written and no event is emitted: each feed is rebuilt on first read.",
    )
    seeder.add_argument("--users", type=int, required=True, help="how many accounts")
    seeder.add_argument("--mean-follows", type=float, required=True, help="follows per user")
    seeder.add_argument("--posts", type=int, required=True, help="how many posts in all")
    seeder.add_argument("--seed", type=int, help="random seed, for a repeatable data set")
    seeder.add_argument("--photos", type=int, default=8, help="distinct images (default 8)")
    seeder.add_argument(
        "--prefix", default="seed_", help="username prefix, a-z 0-9 _, unused (default seed_)"
    )
    seeder.add_argument("--days", type=int, default=30, help="days the posts span (default 30)")
    commands.add_parser(
        "demo",
        help="fill the instance with demo people, photos, likes and comments (run it again: "
        "nothing changes)",
    )
    return parser


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def _prepare_database(settings: Settings) -> None:
    """SQLite migrates itself; PostgreSQL must be migrated by `tessera migrate` first."""
    if settings.embedded:
        await _migrate(settings)
        return
    engine = create_engine(settings)
    try:
        if await pending_migrations(engine):
            raise SystemExit(
                "tessera: the database is not migrated to this version; run `tessera migrate` first"
            )
    finally:
        await engine.dispose()


async def _create_user(settings: Settings, username: str, email: str, password: str) -> int:
    from tessera.accounts import create_user

    if settings.embedded:
        await _migrate(settings)
    engine = create_engine(settings)
    try:
        async with session_scope(sessionmaker(engine, MemoryCache())) as session:
            return await create_user(session, username, email, password)
    finally:
        await engine.dispose()


def _limit_malloc_arenas() -> None:
    """glibc gives threads arenas of their own; photo processing in several threads then
    keeps memory it has freed. Two arenas bring the server's peak after a burst of
    uploads from about 325 MB to about 240 MB (measured with `make bench`)."""
    m_arena_max = -8
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(m_arena_max, 2)


def _serve(settings: Settings, host: str, port: int, worker: bool = True) -> None:
    from tessera.api import create_app
    from tessera.api.server import run

    asyncio.run(_prepare_database(settings))
    _limit_malloc_arenas()
    run(create_app(settings, worker=worker), host, port)


def _worker(settings: Settings) -> None:
    """Consume the broker's queue until SIGINT or SIGTERM."""
    import signal

    from tessera.api import run_worker

    if not settings.broker_url:
        raise SystemExit("tessera: `tessera worker` needs TESSERA_BROKER_URL")

    async def run() -> None:
        await _prepare_database(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(run())


def _demo(settings: Settings) -> None:
    from tessera.demo import DemoError, run_demo

    async def run() -> str:
        await _prepare_database(settings)
        # Its requests are the demo's own business: no access log between the results.
        return (await run_demo(settings.model_copy(update={"log_level": "WARNING"}))).summary()

    try:
        print(asyncio.run(run()))
    except DemoError as exc:
        raise SystemExit(f"tessera: {exc}") from None


def _cluster(settings: Settings, args: argparse.Namespace) -> None:
    from tessera.cluster import ClusterError, ClusterOptions, run_cluster

    options = ClusterOptions(args.api, args.workers, args.port, args.host, args.run_dir)
    try:
        run_cluster(settings, options)
    except ClusterError as exc:
        raise SystemExit(f"tessera: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise SystemExit(f"tessera: {exc}") from None
    if args.command == "serve":
        _serve(settings, args.host, args.port, worker=not args.no_worker)
    elif args.command == "worker":
        given = {"metrics_port": args.metrics_port, "metrics_host": args.metrics_host}
        _worker(settings.model_copy(update={k: v for k, v in given.items() if v is not None}))
    elif args.command == "cluster":
        _cluster(settings, args)
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("tessera: the database is up to date")
    elif args.command == "createuser":
        password = args.password or getpass.getpass("Password: ")
        try:
            account_id = asyncio.run(_create_user(settings, args.username, args.email, password))
        except TesseraError as exc:
            raise SystemExit(f"tessera: {exc.message}") from None
        print(f"tessera: created @{args.username} (id {account_id})")
    elif args.command == "seed":
        from tessera.seed import options_from, seed

        options = options_from(args)
        asyncio.run(_prepare_database(settings))
        print(asyncio.run(seed(settings, options)).summary())
    elif args.command == "demo":
        _demo(settings)
    else:  # pragma: no cover - argparse rejects unknown commands
        sys.exit(2)

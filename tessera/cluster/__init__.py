"""`tessera cluster`: the scaled topology on one machine, in the foreground.

nginx, on the given port, balances `--api` `tessera serve --no-worker` processes on
loopback ports; `--workers` `tessera worker` processes consume the broker's queues. All
share the backing services of the settings: PostgreSQL, Redis, RabbitMQ and the media
storage. The cluster migrates the database, starts the processes, then nginx once every
API process answers `/health/ready`, and says it is ready when nginx answers it too.

A process that dies is started again (see `Child.keep_running`), as a supervisor such
as systemd would. SIGTERM or SIGINT stops everything: nginx stops accepting and finishes
its requests, the API processes finish theirs and end their streams, the workers finish
their events; whatever is still running after `TESSERA_SHUTDOWN_TIMEOUT` (plus a margin)
is killed. Nothing outside the run directory and one temporary directory is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tessera.cluster.nginx import NGINX, Site, render_main, render_site, upload_limit_kib
from tessera.cluster.processes import (
    Child,
    ChildFailed,
    answers_ready,
    port_free,
    say,
    service_port,
)
from tessera.core.config import Settings
from tessera.core.db import create_engine, migrate
from tessera.core.monitoring import write_prometheus_config

__all__ = ["ClusterError", "ClusterOptions", "run_cluster"]

PROMETHEUS = "/usr/bin/prometheus"
"""Debian's Prometheus; started only where it is installed."""
START_DEADLINE = 60.0
"""Seconds nginx and every API process may take to be ready."""
STOP_MARGIN = 10.0
"""Seconds, beyond TESSERA_SHUTDOWN_TIMEOUT, a process may take to exit before SIGKILL."""


class ClusterError(Exception):
    """The cluster cannot run; the message says why, for the operator."""


@dataclass(frozen=True)
class ClusterOptions:
    api: int
    workers: int
    port: int
    host: str = "127.0.0.1"
    run_dir: Path | None = None
    """nginx's configuration, its pid and every process's log; default
    `<TESSERA_DATA_DIR>/cluster`."""


def check(settings: Settings, options: ClusterOptions) -> None:
    """Refuse, in one sentence, what cannot work."""
    if settings.embedded:
        raise ClusterError(
            "the cluster needs PostgreSQL: set TESSERA_DATABASE_URL (SQLite serves one process)"
        )
    if not settings.redis_url:
        raise ClusterError(
            "the cluster needs TESSERA_REDIS_URL: feeds, caches, rate limits and live "
            "events must be shared by every process"
        )
    if not settings.broker_url:
        raise ClusterError("the cluster needs TESSERA_BROKER_URL: its workers consume it")
    if options.api < 1 or options.workers < 1:
        raise ClusterError("the cluster needs at least one API process and one worker")
    if not 0 < options.port < 65536:
        raise ClusterError(f"--port {options.port} is not a TCP port")
    if not port_free(options.host, options.port):
        raise ClusterError(f"{_authority(options.host, options.port)} is already in use")
    if not os.access(NGINX, os.X_OK):
        raise ClusterError(
            f"{NGINX} not found: install Debian's nginx (apt-get install nginx, "
            "or make system-packages)"
        )


def _loopback_for(host: str) -> str:
    """Where this machine reaches a server listening on `host`."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Cluster:
    def __init__(self, settings: Settings, options: ClusterOptions, work_dir: Path) -> None:
        self.settings = settings
        self.options = options
        self.run_dir = (options.run_dir or settings.data_dir / "cluster").resolve()
        self.logs = self.run_dir / "logs"
        self.work_dir = work_dir
        probe_host = _loopback_for(options.host)
        self.address = (probe_host, options.port)
        self.url = settings.public_url or f"http://{_authority(probe_host, options.port)}"
        self.apis: list[Child] = []
        self.workers: list[Child] = []
        self.nginx: Child | None = None
        self.prometheus: Child | None = None
        self.prometheus_url: str | None = None
        self._supervisors: list[asyncio.Task[None]] = []

    @property
    def children(self) -> list[Child]:
        extra = [child for child in (self.nginx, self.prometheus) if child is not None]
        return [*extra, *self.apis, *self.workers]

    def _child_env(self) -> dict[str, str]:
        """The cluster's environment, and what the processes need to know of nginx: its
        forwarded client addresses are believed, and photos are read through its cache."""
        env = dict(os.environ)
        env["TESSERA_TRUSTED_PROXIES"] = ",".join([*self.settings.trusted_proxies, "127.0.0.1"])
        if self.settings.media_storage == "s3" and not self.settings.media_base_url:
            env["TESSERA_MEDIA_BASE_URL"] = f"{self.url}/media"
        return env

    def _media_origin(self) -> str | None:
        """The bucket nginx fetches `/media/` from; None when the APIs serve the files."""
        if self.settings.media_storage != "s3":
            return None
        bucket = self.settings.s3_bucket
        if self.settings.s3_endpoint:
            return f"{self.settings.s3_endpoint}/{bucket}/"
        return f"https://{bucket}.s3.{self.settings.s3_region}.amazonaws.com/"

    def _write_nginx_config(self, ports: list[int]) -> Path:
        site = Site(
            upstreams=[f"127.0.0.1:{port}" for port in ports],
            listen=_authority(self.options.host, self.options.port),
            server_name="_",
            cache_dir=str(self.work_dir / "cache"),
            access_log=str(self.logs / "nginx-access.log"),
            upload_limit_kib=upload_limit_kib(
                self.settings.media_size_limit, self.settings.avatar_size_limit
            ),
            media_origin=self._media_origin(),
        )
        site_file = self.run_dir / "tessera.conf"
        site_file.write_text(render_site(site))
        main = self.run_dir / "nginx.conf"
        main.write_text(
            render_main(site_file, self.run_dir, self.work_dir, self.settings.shutdown_timeout)
        )
        return main

    def _plan(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        ports: list[int] = []
        while len(ports) < self.options.api:
            ports.append(service_port("127.0.0.1", [*ports, self.options.port]))
        config = self._write_nginx_config(ports)
        self.nginx = Child(
            "nginx",
            [
                NGINX,
                "-p",
                str(self.run_dir),
                "-c",
                str(config),
                "-e",
                str(self.logs / "nginx-error.log"),
                "-g",
                "daemon off;",
            ],
            dict(os.environ),
            self.logs / "nginx.log",
            stop_signal=signal.SIGQUIT,  # graceful: stop accepting, finish open requests
        )
        env = self._child_env()
        tessera = [sys.executable, "-m", "tessera"]
        for number, port in enumerate(ports, 1):
            argv = [*tessera, "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
            name = f"api-{number}"
            self.apis.append(Child(name, argv, env, self.logs / f"{name}.log", ("127.0.0.1", port)))
        metrics_ports: list[int] = []
        for number in range(1, self.options.workers + 1):
            name = f"worker-{number}"
            metrics_ports.append(service_port("127.0.0.1", [*ports, *metrics_ports]))
            argv = [*tessera, "worker", "--metrics-port", str(metrics_ports[-1])]
            self.workers.append(Child(name, argv, env, self.logs / f"{name}.log"))
        self._plan_prometheus(ports, metrics_ports)

    def _plan_prometheus(self, api_ports: list[int], worker_ports: list[int]) -> None:
        """A scrape configuration for every process's /metrics; and, where Debian's
        Prometheus is installed, Prometheus itself, on a port of its own."""
        config = write_prometheus_config(
            self.run_dir / "prometheus.yml",
            {
                "tessera-api": [f"127.0.0.1:{port}" for port in api_ports],
                "tessera-worker": [f"127.0.0.1:{port}" for port in worker_ports],
            },
        )
        if not os.access(PROMETHEUS, os.X_OK):
            return
        port = service_port("127.0.0.1", [*api_ports, *worker_ports, self.options.port])
        self.prometheus_url = f"http://127.0.0.1:{port}"
        argv = [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.work_dir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        self.prometheus = Child("prometheus", argv, dict(os.environ), self.logs / "prometheus.log")

    async def start(self) -> None:
        """Migrate, start every process, and return once all of them are ready."""
        engine = create_engine(self.settings)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        say("the database is migrated")
        self._plan()
        assert self.nginx is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_DEADLINE
        try:
            # nginx last: a request it took while the APIs were starting would count as
            # their failure (max_fails) and keep them out of the upstream for a while.
            for child in [*self.apis, *self.workers]:
                await child.spawn()
            if self.prometheus is not None:
                await self.prometheus.spawn()
            await asyncio.gather(*(api.ready(deadline) for api in self.apis))
            await self.nginx.spawn()
            await self.nginx.listening(self.address, deadline)
            while not await answers_ready(*self.address):
                if not self.nginx.running or loop.time() > deadline:
                    raise ChildFailed(self.nginx, "does not answer /health/ready")
                await asyncio.sleep(0.1)
        except ChildFailed as exc:
            failed = exc.child
            raise ClusterError(f"{exc}; the end of {failed.log}:\n{failed.log_tail()}") from None
        self._supervisors = [
            loop.create_task(child.keep_running(START_DEADLINE)) for child in self.children
        ]

    async def stop(self) -> None:
        """Ask every process to finish, nginx first; kill what is left after the margin."""
        for supervisor in self._supervisors:
            supervisor.cancel()
        await asyncio.gather(*self._supervisors, return_exceptions=True)
        running = [child for child in self.children if child.running]
        for child in running:
            child.signal(child.stop_signal)
        waits = [child.process.wait() for child in running if child.process is not None]
        if not waits:
            return
        _, late = await asyncio.wait(
            [asyncio.ensure_future(wait) for wait in waits],
            timeout=self.settings.shutdown_timeout + STOP_MARGIN,
        )
        if late:
            for child in running:
                if child.running:
                    say(f"{child.name} did not stop in time; killing it")
                    child.signal(signal.SIGKILL)
            await asyncio.gather(*late)


async def _run(settings: Settings, options: ClusterOptions, work_dir: Path) -> None:
    cluster = Cluster(settings, options, work_dir)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = loop.create_task(cluster.start())
    stopping = loop.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a ClusterError says why it could not start
            say(
                f"ready at {cluster.url} (API processes: {options.api}, workers: "
                f"{options.workers}; logs in {cluster.logs})"
            )
            if cluster.prometheus_url:
                say(f"Prometheus at {cluster.prometheus_url}")
            await stopping
        say("stopping")
    finally:
        for task in (starting, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClusterError):
                await task
        await cluster.stop()
    say("stopped")


def run_cluster(settings: Settings, options: ClusterOptions) -> None:
    """Run the cluster until SIGTERM or SIGINT; `ClusterError` if it cannot run."""
    check(settings, options)
    work_dir = Path(tempfile.mkdtemp(prefix="tessera-nginx-"))
    try:
        # nginx's workers drop root for `nobody`, who must reach the cache in here.
        work_dir.chmod(0o755)
        asyncio.run(_run(settings, options, work_dir))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

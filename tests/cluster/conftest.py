"""The fault tests: real processes behind Debian's nginx, killed and cut off.

They need the scaled backend (PostgreSQL, Redis, RabbitMQ) and nginx; `make test`
installs nginx (`make system-packages`). Where nginx is missing they fail with
`CI=true` and are skipped, loudly, elsewhere.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tessera.cluster.nginx import NGINX
from tests.broker import Names, TcpProxy
from tests.conftest import BACKEND, Backend, MakeBackend
from tests.processes import free_port, launch

SCALED_ONLY = pytest.mark.skipif(
    BACKEND != "scaled", reason="the fault tests run on the scaled backend only"
)
START_DEADLINE = 90.0
"""Seconds `tessera cluster` may take to say it is ready (three API processes start on
two cores)."""
STOP_DEADLINE = 40.0
SHUTDOWN_TIMEOUT = "5"
"""`TESSERA_SHUTDOWN_TIMEOUT` of the processes the tests start."""


@pytest.fixture(scope="session")
def nginx() -> str:
    """Debian's nginx, or a skip (a failure with CI=true) that says how to get it."""
    if not os.access(NGINX, os.X_OK):
        message = f"{NGINX} is missing (make system-packages installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required because CI=true)")
        print(f"\n{'!' * 78}\n!! SKIPPING THE NGINX TESTS: {message}\n{'!' * 78}\n")
        pytest.skip(message)
    return NGINX


@dataclass
class Cluster:
    """A running `tessera cluster`, as its operator sees it: a URL and what it printed."""

    url: str
    process: subprocess.Popen[bytes]
    output: Path
    run_dir: Path

    def printed(self) -> str:
        return self.output.read_text()

    def api_pids(self) -> dict[str, int]:
        """The newest pid of each API process, from what the cluster printed."""
        found = re.findall(r"tessera cluster: (api-\d+) \(pid (\d+)\) on ", self.printed())
        return {name: int(pid) for name, pid in found}

    def wait_for(self, pattern: str, deadline: float = START_DEADLINE) -> re.Match[str]:
        """The first match of `pattern` in what the cluster printed, once it is there."""
        end = time.monotonic() + deadline
        while (match := re.search(pattern, self.printed())) is None:
            if self.process.poll() is not None:
                pytest.fail(
                    f"tessera cluster exited with {self.process.returncode}:\n{self.logs()}"
                )
            if time.monotonic() > end:
                pytest.fail(f"tessera cluster never printed {pattern!r}:\n{self.logs()}")
            time.sleep(0.05)  # a poll interval, not a wait for the condition
        return match

    def logs(self) -> str:
        """What the cluster printed and the end of every process's log."""
        parts = [f"== tessera cluster\n{self.printed()}"]
        for log in sorted((self.run_dir / "logs").glob("*.log")):
            parts.append(f"== {log.name}\n" + "\n".join(log.read_text().splitlines()[-30:]))
        return "\n".join(parts)

    def stop(self) -> int:
        """SIGTERM, as an operator's Ctrl-C or systemd would; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"tessera cluster did not stop in {STOP_DEADLINE}s:\n{self.logs()}")


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[TcpProxy]:
    """The way to RabbitMQ, which the test can cut (as if it had stopped) and restore."""
    proxy = TcpProxy()
    proxy.up()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture(scope="module")
async def cluster_backend(make_backend: MakeBackend) -> AsyncIterator[Backend]:
    """A backend of the module's own: database, Redis prefix, bucket."""
    async with make_backend() as backend:
        yield backend


@pytest.fixture(scope="module")
def cluster_env(
    cluster_backend: Backend, rabbitmq: TcpProxy, broker: Names, nginx: str
) -> dict[str, str]:
    return {
        **os.environ,
        **cluster_backend.env,
        "TESSERA_BROKER_URL": rabbitmq.url(),
        "TESSERA_BROKER_EXCHANGE": broker.exchange("cluster"),
        "TESSERA_SHUTDOWN_TIMEOUT": SHUTDOWN_TIMEOUT,
        # Four processes beside a test session that holds many of PostgreSQL's 100.
        "TESSERA_DATABASE_POOL_SIZE": "6",
        "TESSERA_DATABASE_MAX_OVERFLOW": "2",
    }


@pytest.fixture(scope="module")
def cluster(
    cluster_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """`tessera cluster --api 3 --workers 1`, once it said it is ready."""
    run_dir = tmp_path_factory.mktemp("cluster")
    output = run_dir / "cluster.out"
    port = free_port()
    args = ["cluster", "--api", "3", "--workers", "1", "--port", str(port)]
    process = launch([*args, "--run-dir", str(run_dir)], cluster_env, output)
    running = Cluster(f"http://127.0.0.1:{port}", process, output, run_dir)
    try:
        running.wait_for(r"tessera cluster: ready at ")
        yield running
    finally:
        running.stop()

"""A throw-away Redis Cluster of three masters on loopback, for the tests that need one.

Debian's `redis-server` runs each node from a temporary directory, with no persistence,
on free ports (each node also needs its port + 10000 free, for the cluster bus);
`redis-cli --cluster create` assigns the slots. `stop()` ends every node it started.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

__all__ = ["REDIS_SERVER", "RedisCluster", "start_cluster"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
MASTERS = 3
BUS_OFFSET = 10_000
"""Redis Cluster's bus listens on the node's port plus this."""
DEADLINE = 30.0
"""Seconds the nodes may take to start and agree on the slots."""
POLL = 0.05


@dataclass
class RedisCluster:
    ports: list[int]
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, node: int = 0) -> str:
        """A `TESSERA_REDIS_URL` naming one node; the client discovers the others."""
        return f"redis://127.0.0.1:{self.ports[node]}/0"

    def cli(self, port: int, *args: str) -> str:
        return subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Ports free on loopback whose bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port + BUS_OFFSET < 65_536 and port not in ports and _bindable(port + BUS_OFFSET):
            ports.append(port)
    return ports


def _wait(what: str, check: Callable[[], bool], cluster: RedisCluster) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"== {path.name}\n{path.read_text()}" for path in cluster.directory.glob("*.log")
            )
            raise RuntimeError(f"Redis Cluster: {what} after {DEADLINE}s\n{logs}")
        time.sleep(POLL)  # a poll interval, not a wait for the outcome


def start_cluster() -> RedisCluster:
    """Three masters, no replicas, every slot assigned, `cluster_state:ok` on each node."""
    cluster = RedisCluster(_free_ports(MASTERS), Path(tempfile.mkdtemp(prefix="redis-cluster-")))
    try:
        _start(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start(cluster: RedisCluster) -> None:
    for port in cluster.ports:
        node_dir = cluster.directory / str(port)
        node_dir.mkdir()
        options = {
            "port": str(port),
            "bind": "127.0.0.1",
            "dir": str(node_dir),
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "save": "",  # no persistence: the cluster lives as long as the tests
            "appendonly": "no",
            "daemonize": "no",
        }
        args = [REDIS_SERVER]
        for name, value in options.items():
            args += [f"--{name}", value]
        with (cluster.directory / f"{port}.log").open("ab") as log:
            cluster.processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
    for port in cluster.ports:
        _wait(f"node {port} silent", partial(_answers, cluster, port), cluster)
    nodes = [f"127.0.0.1:{port}" for port in cluster.ports]
    subprocess.run(
        [REDIS_CLI, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    for port in cluster.ports:
        _wait(f"node {port} not ready", partial(_slots_ok, cluster, port), cluster)


def _answers(cluster: RedisCluster, port: int) -> bool:
    return cluster.cli(port, "ping") == "PONG\n"


def _slots_ok(cluster: RedisCluster, port: int) -> bool:
    """Every slot is served, as this node sees the cluster."""
    return "cluster_state:ok" in cluster.cli(port, "cluster", "info")

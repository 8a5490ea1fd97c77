"""Real `tessera` processes for the tests that need them: started on a free port, awaited
until ready, and stopped (politely, or with SIGKILL as a crash would)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import requests

__all__ = ["START_DEADLINE", "free_port", "launch", "serve", "stop"]

START_DEADLINE = 60.0
"""Seconds `tessera serve` may take to answer /health/ready (SQLite migrates first)."""


def free_port() -> int:
    """A loopback TCP port nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def launch(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`tessera <args>` in a process of its own, its output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "tessera", *args],
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /health/ready until it answers 200; fail with the server log otherwise."""
    deadline = time.monotonic() + START_DEADLINE
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tessera serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            response = requests.get(f"{url}/health/ready", timeout=2)
            if response.status_code == 200:
                return
            last_error = f"{response.status_code} {response.text}"
        except requests.ConnectionError as exc:
            last_error = repr(exc)
        time.sleep(0.05)  # a poll interval, not a wait for readiness
    pytest.fail(
        f"tessera serve not ready after {START_DEADLINE}s ({last_error}):\n{log.read_text()}"
    )


def serve(env: Mapping[str, str], log: Path, *flags: str) -> tuple[str, subprocess.Popen[bytes]]:
    """`tessera serve <flags>` on a free port, once it answers /health/ready: its base
    URL and process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = launch(["serve", "--host", "127.0.0.1", "--port", str(port), *flags], env, log)
    try:
        _wait_ready(url, process, log)
    except BaseException:
        stop(process)
        raise
    return url, process


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process takes more than 15 seconds to exit."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

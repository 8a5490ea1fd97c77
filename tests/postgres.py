"""A PostgreSQL server of the test's own, which it may stop and start at will.

The shared PostgreSQL on 127.0.0.1:5432 serves the whole suite and is never stopped;
a test that needs the database to go away makes one of these instead: `initdb` in a
temporary directory, `pg_ctl` on a free loopback port, everything removed at the end.
A test that needs a streaming replica makes a second one from the first with
`pg_basebackup` (`private_postgres(replica_of=primary)`).
initdb refuses to run as root, so under root the server runs as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_port

__all__ = ["BIN", "PrivatePostgres", "private_postgres", "require_programs"]

BIN = Path("/usr/lib/postgresql/15/bin")
"""Debian's PostgreSQL 15 programs (the package the shared server comes from)."""
TIMEOUT = 60
"""Seconds initdb, a start or a stop may take."""


def require_programs() -> None:
    """Fail (with `CI=true`) or skip, loudly, where Debian's PostgreSQL programs are missing."""
    if not (BIN / "initdb").exists():
        message = f"{BIN}/initdb is missing (Debian's postgresql-15)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (required because CI=true)")
        print(f"\n{'!' * 78}\n!! SKIPPING A PRIVATE POSTGRESQL TEST: {message}\n{'!' * 78}\n")
        pytest.skip(message)


class PrivatePostgres:
    """A stopped-or-running PostgreSQL cluster in `root`, trusting local connections."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """Its `postgres` database, as `TESSERA_DATABASE_URL`."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(BIN / program), *args],
            user=self._user,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            log = (
                (self.root / "server.log").read_text()
                if (self.root / "server.log").exists()
                else ""
            )
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{result.stderr}\n{log}")

    def _own_root(self) -> None:
        if self._user is not None:
            owner = pwd.getpwnam(self._user)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def init(self) -> None:
        self._own_root()
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
            "--no-instructions",
        )  # fmt: skip

    def base_backup(self, primary: PrivatePostgres) -> None:
        """Instead of `init`: a copy of the running `primary` (`pg_basebackup -R`, which
        initdb's `trust` lines for replication allow), so that once started this cluster
        is its hot standby, replaying the WAL it streams from it."""
        self._own_root()
        self._run(
            "pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-R", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start it and return once it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-o", options, "-l",
            str(self.root / "server.log"), "-w", "-t", str(TIMEOUT),
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop it: `fast` ends every session first, as a restart by an operator does."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(TIMEOUT))

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_postgres(replica_of: PrivatePostgres | None = None) -> Iterator[PrivatePostgres]:
    """A running private cluster (a hot standby of `replica_of`, when given); stopped
    and deleted on exit."""
    # Not under pytest's tmp_path: that is private to root, and the server may not be.
    root = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
    server = PrivatePostgres(root)
    try:
        if replica_of is None:
            server.init()
        else:
            server.base_backup(replica_of)
        server.start()
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)

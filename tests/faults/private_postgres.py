"""A PostgreSQL cluster of the test run's own, so a fault test can stop and start it without
touching the machine's shared service on 5432.

`initdb` runs as the postgres user when the tests run as root (PostgreSQL refuses to run as
root), into a temporary directory that user owns; the cluster listens on 127.0.0.1 at a free
port and keeps its socket in that directory, with trust authentication. Only the postmaster's
own PID (from `postmaster.pid`) is ever signalled.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.fixtures.hub_process import free_port

START_TIMEOUT_S = 60


def postgres_bin() -> Path:
    """The newest PostgreSQL's binary directory under /usr/lib/postgresql, or PG_BINDIR."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin "
                           "(set PG_BINDIR)")
    return Path(found[-1]).parent


class PrivatePostgres:
    """One private cluster: `start()`, `stop()` (fast shutdown), `start()` again, `destroy()`."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="hub-faults-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        self.socket_dir.mkdir()
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync", "--no-instructions")

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database `name`; returns its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def start(self) -> None:
        # fsync off: a test cluster needs no durability against the machine crashing, and a
        # loaded CI machine pays dearly for every flush.
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=100")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                  "-w", "-t", str(START_TIMEOUT_S), "start")

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, the cluster is down when this returns."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t",
                  str(START_TIMEOUT_S), "stop")

    def running(self) -> bool:
        return self._pid() is not None

    def destroy(self) -> None:
        """Stop the cluster whatever state it is in (its own postmaster PID only) and remove it."""
        try:
            if self.running():
                try:
                    self.stop()
                except (subprocess.SubprocessError, RuntimeError):
                    self._kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def _kill(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGQUIT)  # the postmaster's immediate shutdown; it ends its children
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._pid() == pid:
            time.sleep(0.1)
        if self._pid() == pid:
            os.kill(pid, signal.SIGKILL)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} exited {result.returncode}: {result.stderr.strip()[-1500:]}"
                               f"\n{self.log_tail()}")

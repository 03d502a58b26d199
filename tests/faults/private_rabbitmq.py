"""A RabbitMQ node of the test run's own, so a fault test can stop, kill and restart its broker
without touching the machine's shared node on 5672.

The node has its own name, AMQP and distribution ports, data and log directories, an empty
plugin list, and its own HOME (so its own Erlang cookie: the shared node's is never read).
It is controlled with `rabbitmqctl -n NODE`; only the PID its own pid file names is signalled.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.fixtures.hub_process import free_port

SBIN = Path(os.environ.get("RABBITMQ_SBIN", "/usr/lib/rabbitmq/bin"))
START_TIMEOUT_S = 90


class PrivateRabbit:
    """One private node: `start()`, `stop_app()` / `start_app()`, `kill9()` then `start()`
    again (the data directory survives), `destroy()`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hub-faults-rmq-"))
        self.node = f"hubfaults{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        (self.root / "mnesia").mkdir()
        (self.root / "log").mkdir()
        (self.root / "enabled_plugins").write_text("[].\n")
        self.pid_file = self.root / "rabbit.pid"
        self.env = {
            **os.environ,
            "HOME": str(self.root),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            # No file of the machine's own node: not its config, nor its env file.
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
        }
        self._server: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the node and wait until RabbitMQ runs on it."""
        out = open(self.root / "server.out", "ab")
        self._server = subprocess.Popen([str(SBIN / "rabbitmq-server")], env=self.env,
                                        stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
                                        start_new_session=True)
        out.close()
        self.ctl("wait", str(self.pid_file), "--timeout", str(START_TIMEOUT_S),
                 timeout=START_TIMEOUT_S + 10)

    def stop_app(self) -> None:
        """Stop RabbitMQ on the node (the Erlang VM stays): clients are disconnected."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", str(START_TIMEOUT_S), timeout=START_TIMEOUT_S + 10)

    def kill9(self) -> None:
        """SIGKILL the node's VM, as a crash would."""
        pid = self._pid()
        if pid is None:
            raise RuntimeError("the private RabbitMQ node is not running")
        os.kill(pid, signal.SIGKILL)
        if not self._wait_gone(pid, 30):
            raise RuntimeError("the private RabbitMQ node survived SIGKILL")

    def running(self) -> bool:
        return self._pid() is not None

    def ctl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run([str(SBIN / "rabbitmqctl"), "-n", self.node, *args],
                                env=self.env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} exited {result.returncode}: "
                               f"{(result.stderr or result.stdout).strip()[-1500:]}")
        return result.stdout

    def destroy(self) -> None:
        """Stop the node (its own PID only, SIGKILL if it does not stop) and remove its files."""
        try:
            pid = self._pid()
            if pid is not None:
                try:
                    self.ctl("stop", str(self.pid_file), timeout=60)
                except (RuntimeError, subprocess.SubprocessError):
                    pass
                if not self._wait_gone(pid, 30):
                    os.kill(pid, signal.SIGKILL)
                    self._wait_gone(pid, 30)
            if self._server is not None and self._server.poll() is None:
                self._server.wait(timeout=30)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server is not None:
                self._server.poll()  # reaps the VM when it is our child (the script execs it)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False

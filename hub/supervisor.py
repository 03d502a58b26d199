"""`hub serve` without --role: a parent process that runs each role in a child process of its
own (`hub serve --role R`), restarts one that dies, and stops them in order.

Why processes: one Python process runs one core's worth of Python at a time; the listener, the
routing workers and the sender each cost CPU per message, so each gets its own interpreter and
the workers are as many as the cores (`--workers N`). RabbitMQ shares the work between workers;
the database's leases share it between senders.

The parent does what must happen once: it migrates the database and creates the key file before
any child starts (so children never race migrations or write two key files), then starts one
listener, N workers, one sender and one scheduler. It does no message work itself.

Restarts: a child that exits when it was not told to is started again after a delay that starts
at 1 s and doubles up to 30 s; a child that had run for 60 s or more starts again after 1 s. A
child that exits with the configuration-error code (2, hub/cli/main.py) is not restarted: a bad
setting does not heal, so the parent stops every child and exits 2 with the child's message.

Stopping (SIGTERM or SIGINT to the parent): SIGTERM to the listener first, and the parent waits
for it to exit, so that no frame is accepted (and ACKed) that nobody is left to route; then the
workers, which finish the batch in hand (what is still queued stays in RabbitMQ); then the sender,
whose deliveries the workers could still have filed until they stopped; then the scheduler, whose
jobs need nothing from the others. Each step waits STOP_TIMEOUT seconds, then SIGKILLs. The
children are in a process group of their own, so a Ctrl-C in a terminal reaches the parent only
and this order holds.

A SIGKILLed parent cannot stop anything: each child asks Linux (prctl PR_SET_PDEATHSIG) for a
SIGTERM when the parent dies, and drains as it would on the parent's SIGTERM.

HTTP: the listener child serves the configured `[http] port` (/health, /metrics, /dashboard);
its /health/ready also requires every child to be running (the `processes` check reads the
parent's state file, whose path the children get with the hidden `--supervised` option). The
other children serve their own endpoints on a port the system picks (HUB_HTTP__PORT=0), each
logged at its start: /metrics on the configured port covers the listener's process (its intake
counters) and the scrape-time gauges (queues, database), not the workers' or the sender's own
counters, which their ports show.
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.bootstrap import Hub
from hub.errors import ConfigError

log = logging.getLogger(__name__)

EXIT_CONFIG = 2  # hub/cli/main.py's code for a ConfigError (not imported: main imports us)
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
HEALTHY_RUN = 60.0  # a child that ran this long starts again after FIRST_DELAY
STOP_TIMEOUT = 20.0
POLL = 0.2
STOP_ORDER = ("listener", "worker", "sender", "scheduler")
PR_SET_PDEATHSIG = 1
CONFIG_PREFIX = "hub: configuration error: "


@dataclass
class Child:
    """One role's place: the process now in it (None while a restart waits) and its backoff."""

    role: str
    index: int
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    delay: float = FIRST_DELAY
    due: float | None = None  # when a restart waits: the monotonic time it is due
    said: str = ""  # the child's last "hub: …" line on stderr (its error message)
    forwarder: threading.Thread | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.role if self.role != "worker" else f"worker-{self.index}"


class Supervisor:
    """Starts, watches, restarts and stops the children; `run()` until SIGTERM/SIGINT."""

    def __init__(self, workers: int, env: dict[str, str] | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1 (got {workers})")
        self.children = ([Child("listener", 0)] + [Child("worker", n) for n in range(workers)]
                         + [Child("sender", 0), Child("scheduler", 0)])
        self.env = dict(os.environ if env is None else env)
        self._stopping = threading.Event()
        self._stderr_lock = threading.Lock()
        self._prctl = _prctl()
        fd, name = tempfile.mkstemp(prefix="hub-processes-", suffix=".json")
        os.close(fd)
        self.state_file = Path(name)
        self._last_state: dict | None = None

    def run(self) -> int:
        """Start every child, keep them running until told to stop; 0, or ConfigError with the
        message of a child that stopped on a configuration error."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stopping.set())
        fatal: Child | None = None
        try:
            self._write_state()
            for child in self.children:
                self._start(child)
            while not self._stopping.is_set() and fatal is None:
                fatal = self._watch()
                self._write_state()
                self._stopping.wait(POLL)
        finally:
            self._stop_all()
            self.state_file.unlink(missing_ok=True)
        if fatal is not None:
            message = fatal.said.removeprefix(CONFIG_PREFIX) or "see its log above"
            raise ConfigError(f"the {fatal.name} process stopped on a configuration error, so "
                              f"every process was stopped: {message}")
        log.info("every process stopped")
        return 0

    def _watch(self) -> Child | None:
        """Notice exits and start due restarts; the child that stopped on a configuration
        error, if one did."""
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if process is not None and process.poll() is not None:
                self._join_forwarder(child)
                child.process = None
                code = process.returncode
                log.warning("%s process %d exited unexpectedly (%s)", child.name, process.pid,
                            _exit_status(code))
                if code == EXIT_CONFIG:
                    return child
                if now - child.started_at >= HEALTHY_RUN:
                    child.delay = FIRST_DELAY
                child.due = now + child.delay
                log.info("%s process restarts in %g s", child.name, child.delay)
                child.delay = min(child.delay * 2, MAX_DELAY)
            elif child.process is None and child.due is not None and now >= child.due:
                self._start(child)
        return None

    def _start(self, child: Child) -> None:
        # Called from the main thread only: Linux sends PR_SET_PDEATHSIG's signal when the
        # *thread* that forked the child ends, so a child started from a passing thread would
        # be killed with it.
        env = dict(self.env)
        if child.role != "listener":  # the configured HTTP port is the listener's
            env["HUB_HTTP__PORT"] = "0"
        command = [sys.executable, "-m", "hub.cli.main", "serve", "--role", child.role,
                   "--supervised", str(self.state_file)]
        child.process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
            process_group=0, preexec_fn=_dies_with(os.getpid(), self._prctl))
        child.started_at, child.due, child.said = time.monotonic(), None, ""
        child.forwarder = threading.Thread(target=self._forward, args=(child, child.process),
                                           name=f"stderr-{child.name}", daemon=True)
        child.forwarder.start()
        log.info("%s process %d started", child.name, child.process.pid)

    def _forward(self, child: Child, process: subprocess.Popen) -> None:
        """Copy the child's stderr (its log) to ours line by line, keeping its last `hub:` line
        (the message of the error it exits on)."""
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith(b"hub: "):
                child.said = line.decode(errors="replace").strip()
            with self._stderr_lock:
                try:
                    sys.stderr.buffer.write(line)
                    sys.stderr.buffer.flush()
                except (OSError, ValueError):
                    pass
        process.stderr.close()

    def _join_forwarder(self, child: Child) -> None:
        if child.forwarder is not None:
            child.forwarder.join(timeout=5)
            child.forwarder = None

    def _stop_all(self) -> None:
        """SIGTERM the children role by role in STOP_ORDER, each step waiting for its processes
        (SIGKILL after STOP_TIMEOUT)."""
        for child in self.children:
            child.due = None  # no restart from here on
        for role in STOP_ORDER:
            running = [c for c in self.children if c.role == role and c.process is not None]
            for child in running:
                assert child.process is not None
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            for child in running:
                process = child.process
                assert process is not None
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log.warning("%s process %d did not stop within %g s: killed", child.name,
                                process.pid, STOP_TIMEOUT)
                    process.kill()
                    process.wait()
                self._join_forwarder(child)
                child.process = None
                log.info("%s process %d stopped (%s)", child.name, process.pid,
                         _exit_status(process.returncode))
            self._write_state()

    def _write_state(self) -> None:
        """The state file the listener's readiness check reads: every child's pid (None while it
        waits for a restart), and `ready` when every child runs. Written only when it changed,
        atomically (a reader sees the old or the new file whole)."""
        state = {"parent": os.getpid(),
                 "children": {c.name: c.process.pid if c.process is not None else None
                              for c in self.children}}
        state["ready"] = (not self._stopping.is_set()
                          and all(pid is not None for pid in state["children"].values()))
        if state == self._last_state:
            return
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.state_file)
        self._last_state = state


def supervise(hub: Hub, workers: int | None) -> int:
    """Prepare what must be done once (migrations, key file), then run the children."""
    hub.upgrade_database()
    hub.keyring  # created here on a fresh install, never by four children at once
    # The files every child would refuse (serve() reads them again in each), read once here so
    # that a bad one is said once, before any process starts.
    hub.mappings.sensitive
    hub.routes
    hub.senders.is_open
    hub.outbound_tls
    hub.close()
    count = workers if workers is not None else (os.cpu_count() or 1)
    log.info("supervisor %d: 1 listener, %d worker(s), 1 sender, 1 scheduler, each a process",
             os.getpid(), count)
    return Supervisor(count).run()


def processes_ready(state_file: Path) -> dict:
    """The readiness check of a supervised listener: the parent's state when every child runs;
    raises (so the check fails) when one does not or the parent's file is gone."""
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if not state.get("ready"):
        waiting = [name for name, pid in state["children"].items() if pid is None]
        raise RuntimeError(f"not running: {', '.join(waiting) or 'stopping'}")
    return state


def _exit_status(code: int | None) -> str:
    if code is None:
        return "running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _prctl():
    """libc's prctl, or None where there is none (not Linux): there a SIGKILLed parent leaves
    its children running."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _dies_with(parent: int, prctl):
    """A preexec_fn: the child gets SIGTERM when the parent dies, and exits at once if the
    parent died before the request was made (its parent is then another process)."""
    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    return preexec

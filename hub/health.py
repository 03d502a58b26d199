"""Readiness checks shared by /health/ready and the scrape-time gauges of /metrics.

Each check is a callable that returns a value (the broker's returns its queue statistics) or
raises. They run side by side, each bounded by `timeout`: a broker that does not answer makes
its check fail within that time instead of holding the HTTP request, and a check still running
from an earlier call is not started again (its thread ends with the client's own timeout). A
result is reused for `ttl` seconds, so frequent probes and scrapes cost one check between them.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from hub.errors import DatabaseUnavailable


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict; `detail` names an exception type or a timeout, never data, or says
    "unreachable" for a database that is away (DatabaseUnavailable)."""

    ok: bool
    detail: str = "ok"


class Health:
    """Runs named checks with a timeout and a short cache."""

    def __init__(self, checks: dict[str, Callable[[], object]], *, timeout: float = 2.0,
                 ttl: float = 1.0) -> None:
        self._checks = checks
        self.timeout = timeout
        self.ttl = ttl
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(checks)),
                                        thread_name_prefix="health")
        self._running: dict[str, Future] = {}
        self._values: dict[str, object] = {}
        self._results: dict[str, CheckResult] = {}
        self._at = float("-inf")
        self._lock = threading.Lock()

    def run(self) -> dict[str, CheckResult]:
        """Every check's result, fresh or at most `ttl` seconds old."""
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return dict(self._results)
            for name, check in self._checks.items():
                running = self._running.get(name)
                if running is None or running.done():
                    self._running[name] = self._pool.submit(check)
            deadline = time.monotonic() + self.timeout
            results = {name: self._wait(name, deadline) for name in self._checks}
            self._results, self._at = results, time.monotonic()
            return dict(results)

    def ready(self) -> tuple[bool, dict[str, CheckResult]]:
        """Whether every check passes, and each result."""
        results = self.run()
        return all(r.ok for r in results.values()), results

    def value(self, name: str) -> object | None:
        """What check `name` returned last time it passed (None after a failure)."""
        return self._values.get(name)

    def close(self) -> None:
        """Stop the check threads (those still waiting on a client end with its timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _wait(self, name: str, deadline: float) -> CheckResult:
        future = self._running[name]
        try:
            value = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            self._values.pop(name, None)
            return CheckResult(False, f"no answer within {self.timeout:g} s")
        except DatabaseUnavailable:
            self._values.pop(name, None)
            return CheckResult(False, "unreachable")
        except Exception as exc:  # noqa: BLE001 - a failing check means "not ready", never a 500
            self._values.pop(name, None)
            return CheckResult(False, f"failed: {type(exc).__name__}")
        if value is False or value is None:
            self._values.pop(name, None)
            return CheckResult(False, "not available")
        self._values[name] = value
        return CheckResult(True)

"""The overview's history: the status document sampled every few seconds into a bounded ring.

Kept in the hub process, not in the store: the chart needs the last hour of counts and queue
depths, which the store does not keep, and a ring of a few hundred small dicts costs nothing.
Browsers read the latest sample, so however many watch, the hub computes the status once per
interval. A hub that restarts starts a new hour.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from hub.errors import DatabaseUnavailable
from hub.logs import OutageLog

log = logging.getLogger(__name__)


class StatusRing:
    """The last `history` seconds of status samples, one every `interval` seconds."""

    def __init__(self, interval: float, history: float) -> None:
        self.interval = interval
        self._samples: deque[dict] = deque(maxlen=max(2, math.ceil(history / interval) + 1))
        self._lock = threading.Lock()

    def add(self, at: float, status: dict) -> None:
        """Keep one sample: when (epoch seconds) and the status document of that moment."""
        with self._lock:
            self._samples.append({"at": at, "status": status})

    def latest(self) -> dict | None:
        """The newest sample, or None before the first."""
        with self._lock:
            return self._samples[-1] if self._samples else None

    def series(self) -> list[dict]:
        """Per sample: time, queue depths (their sum), message and delivery counts, and the rates
        per second since the sample before (received, stored, delivered)."""
        with self._lock:
            samples = list(self._samples)
        points, before = [], None
        for sample in samples:
            s = sample["status"]
            point = {"at": sample["at"],
                     "depth": sum(q.get("depth", 0) for q in s.get("queues", {}).values()),
                     "received": s["messages"].get("received", 0),
                     "stored": s["messages"].get("stored", 0),
                     "delivered": s["deliveries"].get("delivered", 0)}
            for name in ("received", "stored", "delivered"):
                elapsed = sample["at"] - before["at"] if before else 0
                point[f"{name}_rate"] = (round(max(0, point[name] - before[name]) / elapsed, 2)
                                         if before and elapsed > 0 else 0.0)
            points.append(point)
            before = point
        return points


def dashboard_outage() -> OutageLog:
    """The dashboard's report of database outages (shared by its sampler and its pages)."""
    return OutageLog(log, "database", "the dashboard skips its status samples and answers 503")


class Sampler:
    """Fills a ring from `collect` every interval, in a daemon thread, until `stop` is set."""

    def __init__(self, ring: StatusRing, collect: Callable[[], dict], stop: threading.Event,
                 outage: OutageLog | None = None) -> None:
        self._ring = ring
        self._collect = collect
        self._stop = stop
        # An unreachable database is two lines per outage, not a traceback per sample.
        self.database = outage or dashboard_outage()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take the first sample now and the next ones every interval."""
        self._thread = threading.Thread(target=self._run, name="dashboard-sampler", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the sampling thread to end once `stop` is set;
        True when it has ended (or never started)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            try:
                status = self._collect()
            except DatabaseUnavailable as exc:
                self.database.failed(str(exc).removeprefix("database unreachable "))
            except Exception:  # anything else skips a sample, never the sampler
                log.warning("dashboard: could not sample the status", exc_info=True)
            else:
                self.database.recovered()
                self._ring.add(time.time(), status)
            if self._stop.wait(self._ring.interval):
                return

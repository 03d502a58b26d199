"""One run of a job at a time across every hub sharing the database: a lease lock per job.

Before a run the scheduler takes the job's lease (a row in `job_locks`, taken by one
conditional upsert); it gives it back after the run. A hub that crashed mid-run gives nothing
back: its lease runs out after `lease` seconds and the next hub to try runs the job. A run
must therefore end well within its lease (the key rotation stops itself at half of it).
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

from hub.errors import StoreError
from hub.store.job_store import JobStore

log = logging.getLogger(__name__)


def new_owner() -> str:
    """A name for this scheduler that no other (on this or another machine) shares."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseLock:
    """Runs a job's function only while holding its lease; `run` is the JobScheduler's lock."""

    def __init__(self, store: JobStore, clock: Callable[[], datetime], lease: float,
                 owner: str | None = None) -> None:
        self._store = store
        self._clock = clock
        self.lease = lease
        self.owner = owner or new_owner()

    def run(self, job_id: str, func: Callable[[], object]) -> bool:
        """Run `func` if this owner gets `job_id`'s lease, then release it; whether it ran.
        A lease held by another hub is not an error: that hub is running the job."""
        if not self._store.acquire(job_id, self.owner, self._clock(), self.lease):
            log.debug("job %s: leased by another hub, skipped", job_id)
            return False
        try:
            func()
        finally:
            try:
                self._store.release(job_id, self.owner)
            except StoreError as exc:  # the lease runs out by itself
                log.warning("job %s: lease not released (%s)", job_id, type(exc).__name__)
        return True

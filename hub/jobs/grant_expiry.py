"""The grant-expiry job: a consent grant whose `until` passed gets one "grant expired" event in
the audit log and so in the patient's `hub journal`. Consent checks already treat such a grant
as expired (hub.domain.consent); this only tells the patient, once."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from hub.store.job_store import JobStore

log = logging.getLogger(__name__)
JOB_ID = "grant-expiry"
BATCH = 500


def note_expired_grants(store: JobStore, clock: Callable[[], datetime]) -> int:
    """Record the expiry of every grant that ran out by `clock()` and was not noted yet, in
    transactions of BATCH grants; return how many were noted."""
    now = clock()
    total = 0
    while True:
        noted = store.note_expired_grants(now, BATCH)
        total += noted
        if noted < BATCH:
            break
    if total:
        log.info("%d consent grant(s) expired and noted in the journal", total)
    return total

"""The retention job: raw copies of settled messages (stored, rejected, discarded) received
more than `[retention] raw_days` days ago are emptied; entries, the audit log and the journal
are kept, and so is each message's row (its story in `hub trace`). 0 days keeps them forever.
Each batch is one transaction with its audit event (a count, never an id or content)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from hub.store.job_store import JobStore

log = logging.getLogger(__name__)
JOB_ID = "retention"
BATCH = 500


def purge_raw_copies(store: JobStore, clock: Callable[[], datetime], raw_days: int) -> int:
    """Purge raw copies older than `raw_days` days as of `clock()` (none when 0); return how
    many were purged."""
    if raw_days <= 0:
        return 0
    before = clock() - timedelta(days=raw_days)
    total = 0
    while True:
        purged = store.purge_raw(before, BATCH)
        total += purged
        if purged < BATCH:
            break
    if total:
        log.info("retention: %d raw message copies older than %d days purged", total, raw_days)
    return total

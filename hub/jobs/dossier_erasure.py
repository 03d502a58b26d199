"""The dossier-erasure job: a dossier closed more than `[retention] closed_dossier_years` ago
has its entries, raw copies and demographics erased (hub/store/dossier_erasure.py says what
goes and what stays), with one `dossier.erased` event in its journal. 0 years keeps them
forever. Runs beside the retention job, every `[jobs] retention_interval`, under its own lease."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from hub.domain.closure import closed_before
from hub.store.job_store import JobStore

log = logging.getLogger(__name__)
JOB_ID = "dossier-erasure"
BATCH = 100


def erase_closed_dossiers(store: JobStore, clock: Callable[[], datetime], years: int) -> int:
    """Erase every dossier whose retention after closure ran out by `clock()`, in batches of
    BATCH dossiers; return how many were erased (counts only are logged)."""
    now = clock()
    before = closed_before(now, years)
    if before is None:
        return 0
    total = 0
    while True:
        erased = store.erase_closed_dossiers(before, now, years, BATCH)
        total += len(erased)
        if len(erased) < BATCH:
            break
    if total:
        log.info("dossier erasure: %d closed dossier(s) past %d years erased", total, years)
    return total

"""The overdue-résumé job: flags référent declarations whose résumé patient is overdue, the
first one or its regular update."""
from __future__ import annotations

import logging
from hub.domain.ports import UnitOfWorkFactory
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)
JOB_ID = "resume-overdue"


def flag_overdue_resumes(unit_of_work: UnitOfWorkFactory, clock: Callable[[], datetime],
                         months: int, update_months: int) -> int:
    """Flag, as of `clock()`, every declaration in force whose résumé is overdue in Luxembourg
    days: the first one `months` calendar months after the declaration, each update
    `update_months` after the last one (hub/domain/resume.py); commit; return how many were
    flagged."""
    now = clock()
    with unit_of_work() as uow:
        flagged = uow.resumes.flag_overdue(now, months, update_months)
        uow.commit()
    if flagged:
        log.info("%d référent declaration(s) flagged: résumé patient overdue", flagged)
    return flagged

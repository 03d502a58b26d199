"""The overdue-résumé job: flags référent declarations whose résumé patient is overdue."""
from __future__ import annotations

import logging
from hub.domain.ports import UnitOfWorkFactory
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)
JOB_ID = "resume-overdue"


def flag_overdue_resumes(unit_of_work: UnitOfWorkFactory, clock: Callable[[], datetime],
                         months: int) -> int:
    """Flag, as of `clock()`, every declaration in force whose référent sent no résumé since it
    was made more than `months` calendar months ago; commit; return how many were flagged."""
    now = clock()
    with unit_of_work() as uow:
        flagged = uow.resumes.flag_overdue(now, months)
        uow.commit()
    if flagged:
        log.info("%d référent declaration(s) flagged: résumé patient overdue", flagged)
    return flagged

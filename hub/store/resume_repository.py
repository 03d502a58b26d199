"""The résumé patient clock of référent declarations (hub/domain/resume.py): résumés received,
overdue declarations flagged and counted.

Only a declaration in force has a running clock: an ended one is neither due nor overdue.
A declaration is overdue when its référent sent no résumé since it was made and it was made more
than the configured months ago; the flag is set by the overdue job, at most once per declaration.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, update

from hub.domain.resume import OverdueResume, add_months
from hub.store.repository import Repository
from hub.store.tables import referent_declarations

_D = referent_declarations.c


def _in_force(at: datetime):
    return and_(_D.since <= at, or_(_D.until.is_(None), _D.until > at))


class ResumeRepository(Repository):
    """The résumé clock of one unit of work. Every time given must be timezone-aware."""

    def record_resume(self, patient_id: str, author: str, at: datetime) -> bool:
        """A résumé by `author` came at `at`: if `author` is the référent declared then, the
        declaration's clock is satisfied and its last résumé time refreshed (an overdue flag
        stays, as evidence that it was late; only a declaration without résumé is overdue).
        Whether it was the référent's."""
        statement = update(referent_declarations).where(
            _D.patient_id == patient_id, _D.cns_code == author, _in_force(at),
            or_(_D.resume_at.is_(None), _D.resume_at < at),
        ).values(resume_at=at)
        if self._execute("recording a résumé", statement).rowcount > 0:
            return True
        # A résumé older than the one recorded is still the référent's: nothing to refresh.
        query = select(_D.id).where(_D.patient_id == patient_id, _D.cns_code == author,
                                    _in_force(at)).limit(1)
        return self._execute("reading a declaration", query).first() is not None

    def flag_overdue(self, now: datetime, months: int) -> int:
        """Flag, at `now`, every declaration in force with no résumé that was made more than
        `months` ago and is not flagged yet; how many were."""
        statement = update(referent_declarations).where(
            _in_force(now), _D.resume_at.is_(None), _D.overdue_at.is_(None),
            _D.since <= add_months(now, -months),
        ).values(overdue_at=now)
        return self._execute("flagging overdue résumés", statement).rowcount

    def overdue(self, now: datetime) -> list[OverdueResume]:
        """The declarations in force at `now` that are flagged overdue, oldest first."""
        query = (select(_D.patient_id, _D.cns_code, _D.since, _D.overdue_at)
                 .where(_in_force(now), _D.overdue_at.is_not(None), _D.resume_at.is_(None))
                 .order_by(_D.since, _D.id))
        return [OverdueResume(row.patient_id, row.cns_code, row.since, row.overdue_at)
                for row in self._execute("reading overdue résumés", query)]

    def counts(self, now: datetime) -> dict[str, int]:
        """`{"overdue": n, "due": n}`: declarations in force flagged overdue, and those whose
        résumé is still awaited without a flag (their clock is running)."""
        query = select(func.count(), func.count(_D.overdue_at)).where(
            _in_force(now), _D.resume_at.is_(None))
        total, flagged = self._execute("counting résumés due", query).one()
        return {"overdue": flagged, "due": total - flagged}

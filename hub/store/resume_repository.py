"""The résumé patient clock of référent declarations (hub/domain/resume.py): résumés received,
overdue declarations flagged and counted.

Only a declaration in force has a running clock: an ended one is neither due nor overdue.
`resume_at` is the last résumé counted for the declaration, `overdue_at` when it was last
flagged. A declaration is overdue while its flag is later than its last résumé: a résumé
received after the flag takes it off the list (the flag stays, as evidence that it was late), and
the next period's flag, once the update is due, puts it back.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update

from hub.domain.resume import OverdueResume, add_months, counts_before, next_overdue
from hub.store.repository import Repository
from hub.store.tables import new_id, referent_declarations, resume_receipts

_D = referent_declarations.c
_R = resume_receipts.c
# Calendar months in Luxembourg days against UTC instants: a declaration may be overdue up to a
# day and a half before `now - months` in UTC terms; candidates are taken with this margin and
# judged exactly in Python.
_MARGIN = timedelta(days=3)


def _in_force(at: datetime):
    return and_(_D.since <= at, or_(_D.until.is_(None), _D.until > at))


def _flagged():
    """The flag of the running period is set (the first résumé's, or the update's)."""
    return and_(_D.overdue_at.is_not(None),
                or_(_D.resume_at.is_(None), _D.overdue_at > _D.resume_at))


class ResumeRepository(Repository):
    """The résumé clock of one unit of work. Every time given must be timezone-aware."""

    def record_resume(self, patient_id: str, author: str, at: datetime) -> bool:
        """A résumé by `author` came at `at`: kept as received (a référent declared later may
        count it), and if `author` is the référent declared then, the declaration's last résumé
        time is refreshed. Whether it was the référent's."""
        self._execute("recording a résumé received", insert(resume_receipts), {
            "id": new_id(), "patient_id": patient_id, "author": author, "received_at": at})
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

    def flag_overdue(self, now: datetime, months: int, update_months: int) -> int:
        """Flag, at `now`, every declaration in force whose running period is over and not
        flagged yet: the first résumé `months` after the declaration (unless the référent sent
        one before it that counts, which is then recorded), the update `update_months` after the
        later of the declaration and the last résumé. How many were flagged."""
        first, again = add_months(now, -months) + _MARGIN, add_months(now, -update_months) + _MARGIN
        query = select(_D.id, _D.patient_id, _D.cns_code, _D.since, _D.resume_at).where(
            _in_force(now), ~_flagged(),
            or_(and_(_D.resume_at.is_(None), _D.since <= first),
                and_(_D.resume_at.is_not(None), _D.since <= again, _D.resume_at <= again)))
        flagged = 0
        for row in self._execute("reading résumé clocks", query).all():
            resume_at = row.resume_at
            if resume_at is None:
                resume_at = self._earlier_resume(row.patient_id, row.cns_code, row.since, months)
                if resume_at is not None:
                    self._execute("counting an earlier résumé", update(referent_declarations)
                                  .where(_D.id == row.id).values(resume_at=resume_at))
            if next_overdue(row.since, resume_at, months, update_months) <= now:
                self._execute("flagging an overdue résumé", update(referent_declarations)
                              .where(_D.id == row.id).values(overdue_at=now))
                flagged += 1
        return flagged

    def _earlier_resume(self, patient_id: str, author: str, since: datetime,
                        months: int) -> datetime | None:
        """The latest résumé `author` sent at or before `since` if it counts for a declaration
        made then, else None."""
        query = select(func.max(_R.received_at)).where(
            _R.patient_id == patient_id, _R.author == author, _R.received_at <= since)
        latest = self._execute("reading earlier résumés", query).scalar()
        return latest if latest is not None and counts_before(latest, since, months) else None

    def overdue(self, now: datetime) -> list[OverdueResume]:
        """The declarations in force at `now` that are flagged overdue, oldest first."""
        query = (select(_D.patient_id, _D.cns_code, _D.since, _D.overdue_at, _D.resume_at)
                 .where(_in_force(now), _flagged())
                 .order_by(_D.since, _D.id))
        return [OverdueResume(row.patient_id, row.cns_code, row.since, row.overdue_at,
                              row.resume_at)
                for row in self._execute("reading overdue résumés", query)]

    def counts(self, now: datetime) -> dict[str, int]:
        """`{"overdue": n, "due": n}`: declarations in force flagged overdue (first résumé or
        update), and those whose first résumé is still awaited without a flag."""
        query = select(func.count()).where(_in_force(now), _flagged())
        overdue = self._execute("counting overdue résumés", query).scalar()
        query = select(func.count()).where(_in_force(now), _D.resume_at.is_(None),
                                           _D.overdue_at.is_(None))
        due = self._execute("counting résumés due", query).scalar()
        return {"overdue": overdue, "due": due}

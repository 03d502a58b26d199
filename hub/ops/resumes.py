"""The overdue résumés patient (`hub dossier overdue`), shared by the `hub` command and any page
that lists the same.

The list names each patient by matricule, which is decrypted for it: each patient listed gets
an "identity.read" event of the operator in their journal, committed before the list is
returned.
"""
from __future__ import annotations

from datetime import datetime

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWorkFactory
from hub.domain.resume import next_due_on, next_overdue

REASON = "operator full view: matricule listed as a résumé patient overdue"


def overdue(uow_factory: UnitOfWorkFactory, now: datetime, months: int, *,
            by: Operator, update_months: int = 12) -> list[dict]:
    """The référent declarations in force whose résumé the overdue job flagged, as of `now`:
    [{"matricule", "referent", "declared_at", "last_resume_at", "due_on", "due_at",
    "flagged_at"}] (times as datetimes; `last_resume_at` None while the first résumé is awaited,
    `due_on` the Luxembourg day it was due by, `due_at` the instant it became overdue); each
    listing journaled in that patient's journal as read by `by`."""
    with uow_factory() as uow:
        flagged = uow.resumes.overdue(now)
        rows = [{"matricule": uow.patients.get(o.patient_id).matricule,
                 "referent": o.referent, "declared_at": o.declared_at,
                 "last_resume_at": o.resume_at,
                 "due_on": next_due_on(o.declared_at, o.resume_at, months, update_months),
                 "due_at": next_overdue(o.declared_at, o.resume_at, months, update_months),
                 "flagged_at": o.flagged_at}
                for o in flagged]
        uow.audit.record_many(
            AuditEvent(actor=Actor.OPERATOR, action=AuditAction.IDENTITY_READ, reason=REASON,
                       patient_id=o.patient_id, at=now, operator=by.name) for o in flagged)
        uow.commit()
    return rows

"""The majority job: when a minor comes of age, their parents stop acting for them.

Consent checks already refuse a parent once the patient is of age (hub.domain.representative,
hub.domain.majority), whether or not this job ran; the job makes it a recorded fact: each
parent still open is ended at the instant of majority (`until`, `end_reason` "majority") and a
"representative.majority" event, actor hub, goes to the patient's journal — once, however
often it runs. The event is dated when the hub noted it and names the representative by id:
neither the birth date nor a name reaches the audit log. Guardians and assistants are left as
they are (a court's order or the patient ends them).

It reads the birth date of each dossier with a parent not yet ended (decrypting its
demographics), in transactions of BATCH dossiers.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.majority import patient_majority
from hub.domain.ports import UnitOfWorkFactory
from hub.domain.representative import EndReason
from hub.errors import DecryptionError, UnknownMatricule

log = logging.getLogger(__name__)
JOB_ID = "representative-majority"
BATCH = 200


def end_parents_at_majority(unit_of_work: UnitOfWorkFactory,
                            clock: Callable[[], datetime]) -> int:
    """End, as of `clock()`, every parent representative of a patient who came of age, and
    journal each; commit every BATCH dossiers; return how many were ended."""
    now = clock()
    with unit_of_work() as uow:
        parents = uow.representatives.open_parents(now)
    ended = unreadable = 0
    patient_ids = list(parents)
    for start in range(0, len(patient_ids), BATCH):
        with unit_of_work() as uow:
            for patient_id in patient_ids[start:start + BATCH]:
                try:
                    majority = patient_majority(uow, patient_id)
                except (DecryptionError, UnknownMatricule):
                    # One dossier whose demographics cannot be read must not stop the others'.
                    unreadable += 1
                    continue
                if majority is None or majority > now:
                    continue
                for rep_id in parents[patient_id]:
                    if uow.representatives.end(rep_id, majority, EndReason.MAJORITY):
                        ended += 1
                        uow.audit.record(AuditEvent(
                            actor=Actor.HUB, action=AuditAction.REPRESENTATIVE_ENDED_MAJORITY,
                            patient_id=patient_id, at=now,
                            reason=f"parent representative {rep_id}: the patient came of age"))
            uow.commit()
    if unreadable:
        log.warning("%d dossier(s) with a parent representative: demographics unreadable, "
                    "majority not checked", unreadable)
    if ended:
        log.info("%d parent representative(s) ended: the patient came of age", ended)
    return ended

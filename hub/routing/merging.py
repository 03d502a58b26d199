"""ADT^A40 (merge patient, patient identifier list): the dossier of the matricule in MRG-1 is
merged into the one of the matricule in PID-3.

Each MRG is read with the PID before it, so a message carrying several PID/MRG pairs makes
several merges, in order. Both identifiers follow the rules of PID-3 (hub.domain.identity):
identifier type NN or a configured assigning authority, a valid matricule. A pair that breaks
them, or that names one matricule twice, makes the whole message unmappable: it is parked with a
reason naming the field, never its value.

Applying a merge moves the merged dossier's entries to the survivor and marks it merged
(PatientRepository.merge); a `patient.merged` event goes into both journals. What stays where
it was: the merged dossier's consent grants and référent declarations (the survivor's own
consent decides from now on), its messages and journal (history), and its deliveries already
queued (their queue and re-check stay with the dossier they were routed for). Nothing undoes a
merge. A merge with a closed dossier, on either side, is not applied: filing parks the message
for an operator (hub.domain.closure.merge_parked_reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.identity import identify_in
from hub.domain.models import MessageRecord
from hub.domain.ports import UnitOfWork
from hub.errors import MappingError
from hub.hl7.message import Message

MERGE_FIELD = 1      # MRG-1, prior patient identifier list
SURVIVOR_FIELD = 3   # PID-3


@dataclass(frozen=True)
class MergeAction:
    """Merge the dossier of matricule `merged` into the one of `survivor` (never printed)."""

    survivor: str = field(repr=False)
    merged: str = field(repr=False)

    def sides(self) -> list[tuple[str, str]]:
        """(where, matricule) of the two dossiers, for filing to refuse a closed one
        (hub.domain.closure): a merge with a closed dossier is parked, never applied."""
        return [(f"PID-{SURVIVOR_FIELD}", self.survivor), (f"MRG-{MERGE_FIELD}", self.merged)]

    def apply(self, uow: UnitOfWork, record: MessageRecord) -> None:
        """Move the entries, mark the merged dossier, journal it on both; nothing (and no
        event) when the two already are one dossier."""
        merge = uow.patients.merge(self.merged, self.survivor)
        if merge is None:
            return
        reason = f"ADT^A40: {merge.moved} entries moved"
        uow.audit.record_many([
            AuditEvent(actor=Actor.HUB, action=AuditAction.PATIENT_MERGED,
                       patient_id=merge.merged_id, message_id=record.id,
                       reason=f"{reason} into dossier {merge.survivor_id}"),
            AuditEvent(actor=Actor.HUB, action=AuditAction.PATIENT_MERGED,
                       patient_id=merge.survivor_id, message_id=record.id,
                       reason=f"{reason} from dossier {merge.merged_id}"),
        ])


def merges_in(message: Message, policy) -> list[MergeAction]:
    """The merges an ADT^A40 asks for, one per MRG; MappingError (naming the field) when a
    pair has no usable matricule or names the same one twice."""
    authorities = getattr(policy, "authorities", frozenset())
    merges: list[MergeAction] = []
    pid = None
    for segment in message.segments:
        if segment.name == "PID":
            pid = segment
        elif segment.name == "MRG":
            merges.append(_merge(pid, segment, authorities, len(merges) + 1))
    if not merges:
        raise MappingError(f"MRG-{MERGE_FIELD}: no MRG segment, so no patient to merge")
    return merges


def _merge(pid, mrg, authorities: frozenset[str], number: int) -> MergeAction:
    where = "" if number == 1 else f" (merge {number})"
    if pid is None:
        raise MappingError(f"MRG-{MERGE_FIELD}{where}: no PID before it names the survivor")
    survivor = identify_in(pid, SURVIVOR_FIELD, authorities)
    if not survivor.ok:
        raise MappingError(f"{survivor.reason}{where}")
    merged = identify_in(mrg, MERGE_FIELD, authorities)
    if not merged.ok:
        raise MappingError(f"{merged.reason}{where}")
    if merged.matricule == survivor.matricule:
        raise MappingError(f"MRG-{MERGE_FIELD}{where}: names the same patient as "
                           f"PID-{SURVIVOR_FIELD}, a dossier cannot be merged into itself")
    return MergeAction(survivor.matricule, merged.matricule)

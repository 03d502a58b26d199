"""Linking a legacy 11-digit matricule's dossier with its 13-digit twin's.

Two dossiers exist for one person when messages named them by both forms. They become one by a
merge (PatientRepository.merge_ids): the legacy dossier's entries move to the 13-digit one and
it is marked merged into it, so that its matricule files there from now on. A `patient.merged`
event with the reason `legacy matricule` goes into both journals. Who may say the two are one:
a message carrying both forms in PID-3 (the sender says so), an operator (`hub patient link`),
or the rule itself when `[identity] link_legacy_forms` is on (`link_all_legacy`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.closure import MERGE_RULE, DossierClosed
from hub.domain.matricule import successor
from hub.domain.models import MessageRecord
from hub.domain.ports import UnitOfWork
from hub.domain.models import Merge

REASON = "legacy matricule"


def link_dossiers(uow: UnitOfWork, merged_id: str, survivor_id: str, *, actor: str = Actor.HUB,
                  message_id: str | None = None, why: str = "",
                  operator: str | None = None) -> Merge | None:
    """Merge dossier `merged_id` (the legacy form's) into `survivor_id` and journal it on both
    (naming the `operator` who asked, if one did); None, with no event, when the two already
    are one dossier."""
    merge = uow.patients.merge_ids(merged_id, survivor_id)
    if merge is None:
        return None
    said = f" ({why})" if why else ""
    uow.audit.record_many([
        AuditEvent(actor=actor, action=AuditAction.PATIENT_MERGED, patient_id=merge.merged_id,
                   message_id=message_id, operator=operator,
                   reason=f"{REASON}{said}: {merge.moved} entries moved "
                   f"into dossier {merge.survivor_id}"),
        AuditEvent(actor=actor, action=AuditAction.PATIENT_MERGED, patient_id=merge.survivor_id,
                   message_id=message_id, operator=operator,
                   reason=f"{REASON}{said}: {merge.moved} entries moved "
                   f"from dossier {merge.merged_id}"),
    ])
    return merge


def link_forms(uow: UnitOfWork, legacy: str, matricule: str, *, actor: str = Actor.HUB,
               message_id: str | None = None, why: str = "",
               operator: str | None = None) -> Merge | None:
    """Link the dossier of `legacy` (11 digits) into the one of `matricule` (13 digits), both
    validated; each is created empty when never mentioned before. DossierClosed when either
    is closed (hub.domain.closure: a closed dossier is never merged)."""
    own = uow.patients.ids_for([legacy, matricule])
    if any(uow.patients.is_closed(patient_id) for patient_id in own.values()):
        raise DossierClosed(f"{MERGE_RULE}: the patient reopens it before the two forms are "
                            "linked")
    return link_dossiers(uow, own[legacy], own[matricule], actor=actor,
                         message_id=message_id, why=why, operator=operator)


def link_all_legacy(uow: UnitOfWork) -> list[Merge]:
    """Merge every dossier created under a legacy matricule into its 13-digit successor's:
    what turning `[identity] link_legacy_forms` on asks of a store that has both. A pair with
    a closed dossier is left as it is (run it again once the patient reopened)."""
    merges = []
    for patient_id, legacy in uow.patients.legacy_dossiers():
        twin = uow.patients.id_for(successor(legacy))
        if uow.patients.is_closed(patient_id) or uow.patients.is_closed(twin):
            continue  # never merged while closed (hub.domain.closure); linked when reopened
        merge = link_dossiers(uow, patient_id, twin, why="link_legacy_forms")
        if merge is not None:
            merges.append(merge)
    return merges


@dataclass(frozen=True)
class LegacyLinkAction:
    """A message carried both forms of one person's matricule in PID-3: link their dossiers."""

    legacy: str = field(repr=False)
    matricule: str = field(repr=False)

    def sides(self) -> list[tuple[str, str]]:
        """(where, matricule) of the two dossiers: a link is a merge, refused with a closed one
        like an ADT^A40's (hub.domain.closure)."""
        return [("PID-3 (13 digits)", self.matricule), ("PID-3 (legacy form)", self.legacy)]

    def apply(self, uow: UnitOfWork, record: MessageRecord) -> None:
        """Link the two dossiers; the consent of the 13-digit one decides from now on."""
        link_forms(uow, self.legacy, self.matricule, message_id=record.id,
                   why="both forms in PID-3")

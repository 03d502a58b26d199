"""What a message does to a dossier besides adding entries: a merge (ADT^A40), a référent
declaration (ADT^A31), a résumé patient received (MDM^T02), a legacy matricule linked, ... and
what a staff master file (MFN) does to the professionals registry instead.

A reader turns a parsed message into actions, in memory and before any database work, so that
it can fail like mapping does (the message is parked with the reason). Filing applies each
stored message's actions in message order, in the worker's transaction, after its entries.
Readers are listed here by message type ("CODE^EVENT"); each lives in a module of its own.
"""
from __future__ import annotations

from typing import Callable, Protocol

from hub.domain.identity import Verdict
from hub.domain.models import MessageRecord
from hub.domain.ports import UnitOfWork
from hub.hl7.message import Message
from hub.mapping.interpret import MASTER_FILE, MERGE
from hub.routing.legacy_link import LegacyLinkAction
from hub.routing.merging import merges_in
from hub.routing.referents import REFERENT_TYPE, read_referents
from hub.routing.registry_update import read_registry_update
from hub.routing.resumes import read_resume


class PatientAction(Protocol):
    """One change to a dossier, applied inside the unit of work that files its message."""

    def apply(self, uow: UnitOfWork, record: MessageRecord) -> None:
        """Apply to `record.patient_id`'s dossier (the message is stored, the dossier open;
        an action whose class sets `applies_while_closed`, a care relationship, also applies to
        a closed dossier: hub.domain.closure).
        The store forgets the consent states it read once a declaration or a merge changes
        them, so the messages after this one are routed on the new consent."""


Reader = Callable[[Message, object], list[PatientAction]]

# message type ("CODE^EVENT", else the code alone) -> reader(message, routing policy) -> actions
_READERS: dict[str, Reader] = {
    MERGE: merges_in,
    REFERENT_TYPE: read_referents,
    "MDM^T02": read_resume,
    MASTER_FILE: read_registry_update,  # a staff master file no mapping serves (interpret decides)
}


def actions_for(message: Message, policy: object) -> list[PatientAction]:
    """The actions `message` carries; [] for a type no reader is listed for."""
    reader = _READERS.get(message.type) or _READERS.get(message.type.split("^", 1)[0])
    return reader(message, policy) if reader is not None else []


def actions_of(message: Message, verdict: Verdict | None, policy: object) -> list[PatientAction]:
    """`actions_for`, preceded by the link of a legacy matricule's dossier when PID-3 carried
    both forms of one (their dossiers become one first); `verdict` None: a registry message."""
    actions = actions_for(message, policy)
    if verdict is not None and verdict.ok and verdict.legacy and verdict.matricule:
        actions = [LegacyLinkAction(verdict.legacy, verdict.matricule), *actions]
    return actions

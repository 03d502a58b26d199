"""What a message does to a dossier besides adding entries: a merge (ADT^A40), a référent
declaration (ADT^A31), a résumé patient received (MDM^T02), ...

A reader turns a parsed message into actions, in memory and before any database work, so that
it can fail like mapping does (the message is parked with the reason). Filing applies each
stored message's actions in message order, in the worker's transaction, after its entries.
Readers are listed here by message type ("CODE^EVENT"); each lives in a module of its own.
"""
from __future__ import annotations

from typing import Callable, Protocol

from hub.domain.models import MessageRecord
from hub.domain.ports import UnitOfWork
from hub.hl7.message import Message
from hub.routing.merging import merges_in
from hub.routing.referents import read_referents
from hub.routing.resumes import read_resume


class PatientAction(Protocol):
    """One change to a dossier, applied inside the unit of work that files its message."""

    def apply(self, uow: UnitOfWork, record: MessageRecord) -> None:
        """Apply to `record.patient_id`'s dossier (the message is stored, the dossier open).
        The store forgets the consent states it read once a declaration or a merge changes
        them, so the messages after this one are routed on the new consent."""


Reader = Callable[[Message, object], list[PatientAction]]

# message type -> reader(message, routing policy) -> actions
_READERS: dict[str, Reader] = {
    "ADT^A40": merges_in,
    "ADT^A31": read_referents,
    "MDM^T02": read_resume,
}


def actions_for(message: Message, policy: object) -> list[PatientAction]:
    """The actions `message` carries; [] for a type no reader is listed for."""
    reader = _READERS.get(message.type)
    return reader(message, policy) if reader is not None else []

"""A staff master file (MFN^M02) as a patient action: it changes the professionals registry
instead of a dossier, in the worker's transaction, in message order with the rest of the batch
(a registry change is seen by the messages after it only)."""
from __future__ import annotations

from dataclasses import dataclass

from hub.domain.models import MessageRecord
from hub.domain.ports import UnitOfWork
from hub.domain.professional import Professional
from hub.hl7.message import Message
from hub.registry.mfn import apply_mfn_changes, professionals_from_mfn


@dataclass(frozen=True)
class RegistryUpdate:
    """The (MFE-1 event, professional) records of one MFN^M02, in message order."""

    changes: tuple[tuple[str, Professional], ...]

    def apply(self, uow: UnitOfWork, record: MessageRecord) -> None:
        """Write the records into the registry; the store forgets the professionals it read,
        so the messages after this one are routed on the new registry."""
        apply_mfn_changes(uow, list(self.changes))


def read_registry_update(message: Message, policy: object = None) -> list[RegistryUpdate]:
    """[RegistryUpdate] for a staff master file; MappingError naming the record and field when
    one cannot be read (the message is taken whole or not at all)."""
    return [RegistryUpdate(tuple(professionals_from_mfn(message)))]

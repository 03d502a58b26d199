"""The référent's résumé patient received (MDM^T02): a document of the configured type
(`[resume] document_type`, compared with TXA-2's code) whose author is the patient's référent
satisfies the résumé clock of the declaration, and each later one refreshes it.

The author is TXA-9 (originator), else TXA-5 (primary activity provider), by the CNS code in the
XCN's first component. A document of another type, or whose author is not a CNS code, is an
ordinary document: it is filed all the same and leaves the clock alone. Whether the author is
the référent is decided when filing, against the declaration in force when it was received.
"""
from __future__ import annotations

from dataclasses import dataclass

from hub.domain.models import MessageRecord
from hub.domain.ports import UnitOfWork
from hub.domain.professional import validate_cns_code
from hub.errors import InvalidCnsCode
from hub.hl7.message import Message

DEFAULT_DOCUMENT_TYPE = "60591-5"  # LOINC "Patient summary Document"; see config/default.toml


@dataclass(frozen=True)
class ResumeReceived:
    """A résumé authored by `author` (a CNS code)."""

    author: str

    def apply(self, uow: UnitOfWork, record: MessageRecord) -> None:
        """Satisfy or refresh the clock when `author` is the référent when it was received."""
        uow.resumes.record_resume(record.patient_id, self.author, record.received_at)


def read_resume(message: Message, policy: object = None) -> list[ResumeReceived]:
    """[ResumeReceived] when `message` is a résumé patient with a CNS code as author, else []."""
    wanted = getattr(policy, "resume_document_type", DEFAULT_DOCUMENT_TYPE)
    txa = message.first("TXA")
    if txa is None or not wanted or txa.value(2, 1).strip() != wanted:
        return []
    for field in (9, 5):
        author = txa.value(field, 1).strip()
        if author:
            try:
                return [ResumeReceived(validate_cns_code(author))]
            except InvalidCnsCode:
                return []
    return []

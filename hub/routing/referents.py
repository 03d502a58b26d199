"""Référent declarations from the CNS feed (ADT^A31): PD1-4, or a ROL segment with role PP.

A ROL segment with ROL-3 `PP` (primary care provider) names the référent in ROL-4 (an XCN whose
first component is the CNS code); ROL-2 says what to do (HL7 table 0287: AD add, UP update,
UC unchanged, DE delete), ROL-5 and ROL-6 when the role begins and ends. Without such a ROL,
PD1-4 (patient primary care provider, first repetition) declares the référent. A message with
neither changes no declaration.

Only the CNS declares référents: an A31 from another sender (a hospital's own "primary care
provider" in PD1-4, with its local identifiers) updates demographics and declares nothing. The
senders that declare are `consent.referent_senders` (globs on "MSH-3^MSH-4", default "CNS^*").

Declaring the référent in force again changes nothing (the résumé clock keeps running from the
first declaration); another référent ends the current declaration and starts a new clock; DE
or an end date ends it. An invalid CNS code or date parks the message, naming the field.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.models import MessageRecord
from hub.domain.ports import UnitOfWork
from hub.domain.professional import validate_cns_code
from hub.errors import InvalidCnsCode, MappingError
from hub.hl7.message import Message, Segment
from hub.mapping.values import iso_timestamp

REFERENT_TYPE = "ADT^A31"
SOURCE = "cns-feed"
PRIMARY_CARE_PROVIDER = "PP"  # HL7 table 0443, provider role
DELETE = "DE"                  # HL7 table 0287, problem/goal action code
DECLARING_SENDERS = ("CNS^*",)   # consent.referent_senders' default


@dataclass(frozen=True)
class ReferentChange:
    """Declare `cns_code` from `begins` (None: when the message was received), or end the
    declaration of `cns_code` (any référent when it is empty) at `ends`."""

    cns_code: str
    begins: datetime | None = None
    ends: datetime | None = None
    end: bool = False
    # A care relationship: applied while the dossier is closed too (hub.domain.closure), where
    # it grants nothing, so that a reopened dossier answers as the CNS said.
    applies_while_closed: ClassVar[bool] = True

    def apply(self, uow: UnitOfWork, record: MessageRecord) -> None:
        """Declare or end and audit what changed (the store then reads the consent anew)."""
        patient_id, noted = record.patient_id, record.received_at
        if self.end:
            self._end(uow, patient_id, self.ends or noted, noted)
            return
        self._declare(uow, patient_id, self.begins or noted, noted)
        if self.ends is not None:
            self._end(uow, patient_id, self.ends, noted)

    def _declare(self, uow: UnitOfWork, patient_id: str, at: datetime, noted: datetime) -> bool:
        current = uow.consents.referent(patient_id, at)
        if current is not None and current.cns_code == self.cns_code:
            return False
        if current is not None:  # replaced: the end is audited as such, not only implied
            _audit(uow, AuditAction.REFERENT_END, patient_id, current.cns_code, at, noted)
        uow.consents.declare_referent(patient_id, self.cns_code, at, SOURCE)
        _audit(uow, AuditAction.REFERENT_DECLARE, patient_id, self.cns_code, at, noted)
        return True

    def _end(self, uow: UnitOfWork, patient_id: str, at: datetime, noted: datetime) -> bool:
        current = uow.consents.referent(patient_id, at)
        if current is None or (self.cns_code and current.cns_code != self.cns_code):
            return False  # a deletion of someone who is not the référent changes nothing
        uow.consents.end_referent(patient_id, at)
        _audit(uow, AuditAction.REFERENT_END, patient_id, current.cns_code, at, noted)
        return True


def _audit(uow: UnitOfWork, action: str, patient_id: str, cns_code: str, effective: datetime,
           noted: datetime) -> None:
    # The audit chain is in the order the hub learned things; a ROL date says when it holds.
    when = "" if effective == noted else f" from {effective.isoformat(timespec='seconds')}"
    uow.audit.record(AuditEvent(actor=Actor.CNS_FEED, action=action, patient_id=patient_id,
                                reason=f"référent {cns_code}{when}", at=noted))


def read_referents(message: Message, policy: object = None) -> list[ReferentChange]:
    """The référent changes `message` carries (MappingError naming the field when one is
    unreadable). [] when the sender is not one that declares référents (see the module)."""
    senders = getattr(policy, "referent_senders", DECLARING_SENDERS)
    if not any(fnmatch.fnmatchcase(message.sender, pattern) for pattern in senders):
        return []
    roles = [(n, s) for n, s in enumerate(message.segments_named("ROL"), start=1)
             if s.value(3, 1).strip().upper() == PRIMARY_CARE_PROVIDER]
    if roles:
        return [_from_rol(n, segment) for n, segment in roles]
    pd1 = message.first("PD1")
    code = pd1.value(4, 1).strip() if pd1 is not None else ""
    return [ReferentChange(_cns_code(code, "PD1-4.1"))] if code else []


def _from_rol(n: int, segment: Segment) -> ReferentChange:
    where = f"ROL[{n}]" if n > 1 else "ROL"
    code = segment.value(4, 1).strip()
    action = segment.value(2).strip().upper()
    begins = _time(segment.value(5, 1), f"{where}-5")
    ends = _time(segment.value(6, 1), f"{where}-6")
    if action == DELETE:
        return ReferentChange(_cns_code(code, f"{where}-4.1") if code else "", ends=ends,
                              end=True)
    if not code:
        raise MappingError(f"{where}-4.1: the référent's CNS code is missing")
    return ReferentChange(_cns_code(code, f"{where}-4.1"), begins=begins, ends=ends)


def _cns_code(text: str, field: str) -> str:
    try:
        return validate_cns_code(text)
    except InvalidCnsCode:
        raise MappingError(f"{field}: not a CNS code (NNNNNN-NN)") from None


def _time(text: str, field: str) -> datetime | None:
    """An HL7 TS as an aware datetime; a time without a zone is taken as UTC."""
    if not text.strip() or text.strip() == '""':
        return None
    iso = iso_timestamp(text)
    try:
        if iso is None:
            raise ValueError
        value = datetime.fromisoformat(iso)
    except ValueError:
        raise MappingError(f"{field}: not a date (YYYYMMDD[HHMM[SS]])") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

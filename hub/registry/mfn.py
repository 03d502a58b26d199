"""The registry from MFN^M02 staff master file messages (MFI, then per record MFE, STF, PRA...).

Each record's MFE-1 (HL7 table 0180) says what happens to one professional:
MAD (add) and MUP (update) store them, active unless STF-7 is `I`; MDC (deactivate) and MDL
(delete) suspend them (the registry never forgets a professional the access journal may name);
MAC (reactivate) makes them active again.

`professionals_from_mfn` only reads the message; `apply_mfn_changes` writes what it read into a
unit of work, keeping what an MFN does not carry (the MLLP destination, and names or specialty
a record leaves empty).
"""
from __future__ import annotations

from dataclasses import replace

from hub.domain.professional import Professional, ProfessionalStatus, validate_cns_code
from hub.errors import InvalidCnsCode, MappingError
from hub.hl7.message import Message, Segment
from hub.domain.ports import UnitOfWork

# The message type the registry handles without a mapping file (the listener must accept it).
MESSAGE_TYPE = "MFN^M02"
UPSERT_EVENTS = frozenset({"MAD", "MUP"})
STATUS_EVENTS = {"MDL": ProfessionalStatus.SUSPENDED, "MDC": ProfessionalStatus.SUSPENDED,
                 "MAC": ProfessionalStatus.ACTIVE}
STAFF_FILES = frozenset({"STF", "PRA"})  # MFI-1, HL7 table 0175
_ACTIVE_FLAGS = {"": ProfessionalStatus.ACTIVE, "A": ProfessionalStatus.ACTIVE,
                 "I": ProfessionalStatus.SUSPENDED}  # STF-7, HL7 table 0183


def professionals_from_mfn(msg: Message) -> list[tuple[str, Professional]]:
    """The (MFE-1 event code, professional) of every record of an MFN^M02, in message order.

    The CNS code comes from STF-2 (a repetition with a CNS assigning authority or id type
    first, else the first that has the NNNNNN-NN form), else PRA-1, else MFE-4; the name from
    STF-3; the specialty from PRA-3, else STF-4, else PRA-5. For MDL, MDC and MAC records the
    professional carries the status to set; only its CNS code and status matter.

    Raises MappingError naming the record and field when the message is not a staff master
    file or a record cannot be read: the message is then taken whole or not at all.
    """
    code = msg.type.split("^", 1)[0]
    if code != "MFN":
        raise MappingError(f"MSH-9: {msg.type or 'no type'} is not an MFN^M02 staff master file")
    master_file = msg.value("MFI-1.1").strip().upper()
    if master_file and master_file not in STAFF_FILES:
        raise MappingError(f"MFI-1: master file {master_file} is not staff (STF) or "
                           "practitioner (PRA)")
    records = _records(msg)
    if not records:
        raise MappingError("MFE: the message has no master file record")
    return [_record(number, *record) for number, record in enumerate(records, 1)]


def apply_mfn_changes(uow: UnitOfWork, changes: list[tuple[str, Professional]]) -> list[str]:
    """Write `changes` (from `professionals_from_mfn`) into `uow`, without committing.

    Returns, per change, "added", "updated" or "unchanged", or "unknown" for an MDL, MDC or
    MAC about a professional the registry does not hold (nothing is created for them).
    """
    results = []
    for event, incoming in changes:
        current = uow.professionals.get(incoming.cns_code)
        if event in UPSERT_EVENTS:
            results.append(uow.professionals.upsert(_merged(current, incoming)))
        elif current is None:
            results.append("unknown")
        else:
            results.append(uow.professionals.upsert(replace(current, status=incoming.status)))
    return results


def _merged(current: Professional | None, incoming: Professional) -> Professional:
    if current is None:
        return incoming
    return replace(
        current,
        family_name=incoming.family_name or current.family_name,
        given_name=incoming.given_name or current.given_name,
        specialty=incoming.specialty or current.specialty,
        status=incoming.status,
    )


def _records(msg: Message) -> list[tuple[Segment, Segment | None, Segment | None]]:
    """Each MFE with the first STF and PRA that follow it before the next MFE."""
    records: list[list] = []
    for segment in msg.segments:
        if segment.name == "MFE":
            records.append([segment, None, None])
        elif records and segment.name == "STF" and records[-1][1] is None:
            records[-1][1] = segment
        elif records and segment.name == "PRA" and records[-1][2] is None:
            records[-1][2] = segment
    return [tuple(record) for record in records]


def _record(number: int, mfe: Segment, stf: Segment | None,
            pra: Segment | None) -> tuple[str, Professional]:
    event = mfe.value(1, 1).strip().upper()
    if event not in UPSERT_EVENTS and event not in STATUS_EVENTS:
        raise MappingError(f"MFE-1 of record {number}: unknown record-level event code "
                           f"{event!r} (expected MAD, MUP, MDL, MDC or MAC)")
    cns_code = _cns_code(number, mfe, stf, pra)
    if event in STATUS_EVENTS:
        return event, Professional(cns_code, "", "", "", STATUS_EVENTS[event])
    flag = stf.value(7, 1).strip().upper() if stf else ""
    if flag not in _ACTIVE_FLAGS:
        raise MappingError(f"STF-7 of record {number}: {flag!r} is not A (active) or I (inactive)")
    family = given = ""
    if stf is not None:
        family, given = stf.value(3, 1, 1).strip(), stf.value(3, 2).strip()
    specialty = _first_filled((pra, 3), (stf, 4), (pra, 5))
    return event, Professional(cns_code, family, given, specialty, _ACTIVE_FLAGS[flag])


def _cns_code(number: int, mfe: Segment, stf: Segment | None, pra: Segment | None) -> str:
    """The record's CNS code; MappingError when none is found or two sources disagree."""
    found = [("STF-2", _code_in_staff_ids(stf))] if stf else []
    if pra is not None:
        found.append(("PRA-1", _valid(pra.value(1, 1))))
    found.append(("MFE-4", _valid(mfe.value(4, 1))))
    codes = [(where, code) for where, code in found if code]
    if not codes:
        raise MappingError(f"record {number}: no CNS code (NNNNNN-NN) in STF-2, PRA-1 or MFE-4")
    where, code = codes[0]
    for other_where, other in codes[1:]:
        if other != code:
            raise MappingError(f"record {number}: {where} carries CNS code {code} but "
                               f"{other_where} carries {other}")
    return code


def _code_in_staff_ids(stf: Segment) -> str | None:
    """STF-2's CNS code: a repetition marked CNS (CX-4 or CX-5) first, else the first valid."""
    candidates = []
    for repetition in range(len(stf.repetitions(2))):
        code = _valid(stf.value(2, 1, repetition=repetition))
        if code:
            marks = (stf.value(2, 4, 1, repetition=repetition) + " "
                     + stf.value(2, 5, repetition=repetition)).upper()
            candidates.append(("CNS" not in marks, repetition, code))
    return min(candidates)[2] if candidates else None


def _valid(text: str) -> str | None:
    try:
        return validate_cns_code(text)
    except InvalidCnsCode:
        return None


def _first_filled(*places: tuple[Segment | None, int]) -> str:
    for segment, field in places:
        if segment is not None:
            value = segment.value(field, 1).strip()
            if value:
                return value
    return ""

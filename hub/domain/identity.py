"""Who a message is about: the matricule in PID-3, and the verdict the ACK reports.

The matricule is the PID-3 repetition (CX) whose identifier type code (CX-5) is NN, or whose
assigning authority (CX-4, its first component) is one configured for the matricule. Only the
first PID segment is read; `identify_in` applies the same rules to another CX list field (MRG-1).
Reasons name fields and rules, never values.
"""
from __future__ import annotations

from dataclasses import dataclass

from hub.domain.matricule import validate
from hub.errors import InvalidMatricule
from hub.hl7.message import Message, Segment

MISSING = 101   # ERR-3, table 0357: required field missing
INVALID = 102   # ERR-3, table 0357: data type error
_FIELD = "PID-3"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a message names a valid matricule; `err_code` and `reason` say why not."""

    ok: bool
    matricule: str | None = None     # normalised when ok, None otherwise
    err_code: int | None = None      # MISSING (101) or INVALID (102) when not ok
    reason: str = ""
    field: str = _FIELD


def _locate(msg: Message, authorities: frozenset[str]) -> tuple[int, str] | None:
    """(0-based repetition, raw CX-1) of the first PID-3 repetition that carries the matricule."""
    pid = msg.first("PID")
    return None if pid is None else _locate_in(pid, 3, authorities)


def _locate_in(segment: Segment, field: int, authorities: frozenset[str]) -> tuple[int, str] | None:
    """(0-based repetition, raw CX-1) of the first repetition of a CX list field that is typed
    NN or assigned by one of `authorities`."""
    wanted = {authority.casefold() for authority in authorities}
    for index in range(len(segment.repetitions(field))):
        identifier = segment.value(field, 1, repetition=index)
        if not identifier.strip():
            continue  # an empty CX-1 identifies no one, whatever its type says
        type_code = segment.value(field, 5, repetition=index)
        authority = segment.value(field, 4, 1, repetition=index)
        if type_code.strip().upper() == "NN" or (authority and authority.casefold() in wanted):
            return index, identifier
    return None


def find_matricule(msg: Message, authorities: frozenset[str] = frozenset()) -> str | None:
    """The raw CX-1 of the first PID-3 repetition typed NN or assigned by one of `authorities`.

    Assigning authorities compare case-insensitively. None when no repetition qualifies.
    """
    found = _locate(msg, authorities)
    return None if found is None else found[1]


def identify(msg: Message, authorities: frozenset[str] = frozenset()) -> Verdict:
    """Find and validate the matricule; the verdict carries ERR-3 101 or 102 when it fails."""
    return _verdict(_locate(msg, authorities), _FIELD)


def identify_in(segment: Segment, field: int, authorities: frozenset[str] = frozenset()) -> Verdict:
    """`identify` for another CX list field (MRG-1 of a merge, or a later PID's PID-3), by the
    same rules; the verdict's `field` and reason name `segment`-`field`."""
    return _verdict(_locate_in(segment, field, authorities), f"{segment.name}-{field}")


def _verdict(found: tuple[int, str] | None, name: str) -> Verdict:
    if found is None:
        return Verdict(False, None, MISSING, f"{name}: no matricule (identifier type NN)", name)
    index, raw = found
    where = name if index == 0 else f"{name} repetition {index + 1}"
    try:
        matricule = validate(raw)
    except InvalidMatricule as error:
        return Verdict(False, None, INVALID, f"{where}: {error}", name)
    return Verdict(True, matricule, field=name)

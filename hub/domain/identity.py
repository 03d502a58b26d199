"""Who a message is about: the matricule in PID-3, and the verdict the ACK reports.

The matricule is the PID-3 repetition (CX) whose identifier type code (CX-5) is NN, or whose
assigning authority (CX-4, its first component) is one configured for the matricule. Every such
repetition is read: one that fails its check digits makes the verdict fail, and two that name
different people (two different matricules) too, rather than filing under the first. The same
matricule twice is one; a legacy 11-digit number beside its 13-digit successor (the same 11
digits and their check digits) is one person too: the verdict names the 13-digit form and
carries the legacy one in `legacy`, so that the two dossiers can be linked. Only the first PID
segment is read; `identify_in` applies the same rules to another CX list field (MRG-1).
Reasons name fields and rules, never values.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hub.domain.matricule import is_legacy, successor, validate
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
    # The legacy 11-digit form the field also carries for the same person (never printed).
    legacy: str | None = dataclasses.field(default=None, repr=False)


def _locate(msg: Message, authorities: frozenset[str]) -> list[tuple[int, str]]:
    """(0-based repetition, raw CX-1) of every PID-3 repetition that carries a matricule."""
    # The first PID by a look along the segments (it is the second of most messages): the
    # listener reads nothing else of the message, and building its index of every segment
    # name cost more than the look.
    pid = next((segment for segment in msg.segments if segment.name == "PID"), None)
    return [] if pid is None else _locate_in(pid, 3, authorities)


def _locate_in(segment: Segment, field: int, authorities: frozenset[str]) -> list[tuple[int, str]]:
    """(0-based repetition, raw CX-1) of every repetition of a CX list field that is typed NN
    or assigned by one of `authorities`, in order."""
    wanted = {authority.casefold() for authority in authorities}
    found = []
    for index in range(len(segment.repetitions(field))):
        # CX-1, CX-5 and CX-4.1 in one cut of the repetition (the listener reads it per message)
        identifier, type_code, authority = segment.values(
            ((field, index, ((0, 1, None), (1, 5, None), (2, 4, 1))),), 3)
        if not identifier.strip():
            continue  # an empty CX-1 identifies no one, whatever its type says
        if type_code.strip().upper() == "NN" or (authority and authority.casefold() in wanted):
            found.append((index, identifier))
    return found


def find_matricule(msg: Message, authorities: frozenset[str] = frozenset()) -> str | None:
    """The raw CX-1 of the first PID-3 repetition typed NN or assigned by one of `authorities`.

    Assigning authorities compare case-insensitively. None when no repetition qualifies.
    """
    found = _locate(msg, authorities)
    return found[0][1] if found else None


def identify(msg: Message, authorities: frozenset[str] = frozenset()) -> Verdict:
    """Find and validate the matricule; the verdict carries ERR-3 101 or 102 when it fails."""
    return _verdict(_locate(msg, authorities), _FIELD)


def identify_in(segment: Segment, field: int, authorities: frozenset[str] = frozenset()) -> Verdict:
    """`identify` for another CX list field (MRG-1 of a merge, or a later PID's PID-3), by the
    same rules; the verdict's `field` and reason name `segment`-`field`."""
    return _verdict(_locate_in(segment, field, authorities), f"{segment.name}-{field}")


def _verdict(found: list[tuple[int, str]], name: str) -> Verdict:
    if not found:
        return Verdict(False, None, MISSING, f"{name}: no matricule (identifier type NN)", name)
    matricules: list[str] = []
    for index, raw in found:
        try:
            matricule = validate(raw)
        except InvalidMatricule as error:
            where = name if index == 0 else f"{name} repetition {index + 1}"
            return Verdict(False, None, INVALID, f"{where}: {error}", name)
        if matricule not in matricules:
            matricules.append(matricule)
    if len(matricules) == 1:
        return Verdict(True, matricules[0], field=name)
    if len(matricules) == 2:
        legacy, current = sorted(matricules, key=len)
        if is_legacy(legacy) and not is_legacy(current) and successor(legacy) == current:
            return Verdict(True, current, field=name, legacy=legacy)
    return Verdict(False, None, INVALID, f"{name}: two different matricules (one person per "
                   "message; a legacy number may stand beside its own 13-digit successor only)",
                   name)

"""Reading one message, the one way the worker, `hub map` and `hub remap` all read it:
decode (MSH-18), parse, find the mapping, identify the patient, map, and read what the message
does besides entries (the policy's patient actions; a staff master file's registry update).

`interpret` never raises. It goes as far as the message lets it and says, stage by stage, what
it found, so that `hub map` can judge mapping apart from identity; `refusal` is the worker's
verdict: the first stage, in the worker's order (decoding, parsing, unmapped, identity, mapping,
actions), that refuses the message, with the reason the worker parks it with. Reasons are safe
to store in clear: the hub's own errors name fields, never values, and anything else is named
by its type and where it was raised.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hub.domain.identity import Verdict, identify
from hub.domain.models import Entry, Patient
from hub.errors import HubError
from hub.hl7.charset import decode
from hub.hl7.header import read_header
from hub.hl7.message import Message
from hub.mapping.loader import MappingSet
from hub.mapping.mapper import map_message
from hub.mapping.policy import ReadingPolicy

MASTER_FILE = "MFN"
MERGE = "ADT^A40"    # merge patient: routing/merging.py reads it
# Types whose actions name a second patient (an ADT^A40's MRG-1): `hub map` reports their
# errors as identity's, not mapping's.
SECOND_PATIENT_TYPES = frozenset({MERGE})


class Stage(str, Enum):
    """Where reading a message stopped."""

    DECODING = "decoding"
    PARSING = "parsing"
    UNMAPPED = "unmapped"
    IDENTITY = "identity"
    MAPPING = "mapping"
    ACTIONS = "actions"


@dataclass(frozen=True)
class Refusal:
    """Why a message is not filed: its stage, the reason the worker stores (safe), and the
    exception it came from (None for an unmapped type or an identity verdict)."""

    stage: Stage
    reason: str
    error: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass
class Interpretation:
    """What reading one message found. `message` is None when it could not be decoded or
    parsed; `type` and `control_id` are then what its raw header says."""

    type: str = ""
    control_id: str = ""
    message: Message | None = None
    registry: bool = False                 # a staff master file: no patient, no entries
    verdict: Verdict | None = None
    patient: Patient | None = None         # matricule set from the verdict when it is ok
    entries: list[Entry] = field(default_factory=list)
    mapped: bool = False                   # whether a mapping ran to its end
    actions: list[Any] = field(default_factory=list)
    unreadable: Refusal | None = None      # decoding or parsing
    unmapped: Refusal | None = None
    identity: Refusal | None = None
    mapping: Refusal | None = None         # the mapping, or reading the actions, failed

    @property
    def refusal(self) -> Refusal | None:
        """The worker's verdict: the first refusal in the worker's order, or None (file it)."""
        return self.unreadable or self.unmapped or self.identity or self.mapping


def interpret(raw: bytes, mappings: MappingSet, policy: ReadingPolicy) -> Interpretation:
    """Read `raw` as the worker files it (see the module); never raises."""
    header = read_header(raw)
    result = Interpretation(type=header.type if header else "",
                            control_id=header.control_id if header else "")
    try:
        text, _codec = decode(raw, policy.fallback_charset)
    except Exception as exc:  # noqa: BLE001 - poison parks, it never raises
        result.unreadable = _refusal(Stage.DECODING, exc)
        return result
    try:
        message = Message.parse(text)
    except Exception as exc:  # noqa: BLE001
        result.unreadable = _refusal(Stage.PARSING, exc)
        return result
    result.message, result.type, result.control_id = message, message.type, message.control_id
    try:
        mapping = mappings.for_type(message.type, message.structure)
        if mapping is None and message.type.split("^", 1)[0] == MASTER_FILE:
            result.registry = True
            result.actions = policy.actions_for(message, None)
            return result
        if mapping is None:
            result.unmapped = Refusal(Stage.UNMAPPED, "unmapped: no mapping for "
                                      f"{message.type or 'this message type'}")
    except Exception as exc:  # noqa: BLE001
        result.mapping = _refusal(Stage.ACTIONS if result.registry else Stage.MAPPING, exc)
        return result
    _identify(result, message, policy)
    if mapping is None:
        return result
    try:
        mapped = map_message(message, mapping, mappings.sensitive)
    except Exception as exc:  # noqa: BLE001
        result.mapping = _refusal(Stage.MAPPING, exc)
        return result
    result.mapped, result.entries = True, mapped.entries
    result.patient = mapped.patient or Patient(matricule="")
    if result.verdict is not None and result.verdict.ok and result.verdict.matricule:
        result.patient.matricule = result.verdict.matricule
    try:
        result.actions = policy.actions_for(message, result.verdict)
    except Exception as exc:  # noqa: BLE001
        result.mapping = _refusal(Stage.ACTIONS, exc)
    return result


def _identify(result: Interpretation, message: Message, policy: ReadingPolicy) -> None:
    try:
        verdict = identify(message, policy.authorities)
    except Exception as exc:  # noqa: BLE001
        result.identity = _refusal(Stage.IDENTITY, exc)
        return
    result.verdict = verdict
    if not verdict.ok:
        result.identity = Refusal(Stage.IDENTITY, verdict.reason)


def _refusal(stage: Stage, exc: BaseException) -> Refusal:
    return Refusal(stage, safe_reason(exc), exc)


def safe_reason(exc: BaseException) -> str:
    """A reason safe to store in clear: our own errors name fields, never values; for anything
    else only the exception type and where it was raised (its text may quote the message)."""
    if isinstance(exc, HubError):
        return f"{type(exc).__name__}: {exc}"
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}{where}"

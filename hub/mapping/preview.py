"""What `hub map FILE --json` prints: for each message in a file, its entries or why it has none.

Stores nothing and sends nothing. Mapping is judged apart from identity: a message without a
matricule still shows its entries, and its "identity" says why it would be rejected (or, for an
ADT^A40, parked: its MRG-1 must name a matricule too).
Nothing here may raise: every failure of decoding, parsing or mapping becomes ok=false.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.domain.identity import identify
from hub.errors import HubError
from hub.hl7.charset import decode
from hub.hl7.message import Message
from hub.hl7.split import split_messages
from hub.mapping.mapper import Mapped, map_message
from hub.mapping.loader import MappingSet
from hub.routing.merging import MERGE_TYPE, merges_in
from hub.routing.outcome import RoutingPolicy
from hub.routing.referents import DECLARING_SENDERS, REFERENT_TYPE, read_referents

def preview(path: Path, raw: bytes, mappings: MappingSet, *, fallback_charset: str,
            authorities: frozenset[str],
            referent_senders: tuple[str, ...] = DECLARING_SENDERS) -> list[dict[str, Any]]:
    """One result object per message in the file (see the `hub map` contract in DESIGN.md)."""
    try:
        chunks, loose = split_messages(raw)
    except Exception as error:  # noqa: BLE001 - a preview reports, it never raises
        return [_failed(path, "", "", _reason("splitting the file", error))]
    if not chunks:
        return [_failed(path, "", "", "no MSH segment")]
    policy = RoutingPolicy(authorities=authorities, referent_senders=referent_senders)
    results = [_preview_one(path, chunk, mappings, fallback_charset, policy)
               for chunk in chunks]
    if loose:
        results.insert(0, _failed(path, "", "", f"{len(loose)} line(s) before the first MSH segment"))
    return results


def _preview_one(path: Path, chunk: bytes, mappings: MappingSet, fallback: str,
                 policy: RoutingPolicy) -> dict[str, Any]:
    type_, control_id = _header_guess(chunk)
    try:
        text, _codec = decode(chunk, fallback)
    except Exception as error:  # noqa: BLE001
        return _failed(path, type_, control_id, _reason("decoding", error))
    try:
        msg = Message.parse(text)
        type_, control_id = msg.type, msg.control_id
    except Exception as error:  # noqa: BLE001
        return _failed(path, type_, control_id, _reason("parsing", error))
    try:
        verdict = identify(msg, policy.authorities)
        identity = "ok" if verdict.ok else verdict.reason
        if verdict.ok and type_ == MERGE_TYPE:  # a merge names a second patient, in MRG-1
            merges_in(msg, policy)
    except Exception as error:  # noqa: BLE001
        identity = _reason("identifying the patient", error)
    result: dict[str, Any] = {"file": str(path), "type": type_, "control_id": control_id,
                              "ok": False, "entries": []}
    try:
        mapping = mappings.for_type(type_, msg.structure)
        if mapping is None:
            result["error"] = f"no mapping for {type_ or 'an empty MSH-9'}"
        else:
            mapped = map_message(msg, mapping)
            if type_ == REFERENT_TYPE:  # an unreadable declaration parks the message as well
                read_referents(msg, policy)
            _fill(result, mapped)
    except Exception as error:  # noqa: BLE001
        result["error"] = _reason("mapping", error)
    result["identity"] = identity
    return result


def _fill(result: dict[str, Any], mapped: Mapped) -> None:
    result["ok"] = True
    result["entries"] = [
        {"kind": entry.kind, "confidentiality": entry.confidentiality.value,
         "effective_at": entry.effective_at, **entry.payload}
        for entry in mapped.entries
    ]
    if mapped.patient is not None:
        patient = {key: value for key, value in vars(mapped.patient).items()
                   if value and key != "matricule"}
        result["patient"] = patient


def _failed(path: Path, type_: str, control_id: str, error: str) -> dict[str, Any]:
    return {"file": str(path), "type": type_, "control_id": control_id, "ok": False,
            "entries": [], "error": error, "identity": "not checked: the message was not read"}


def _reason(stage: str, error: Exception) -> str:
    """The hub's own errors say what is wrong without values; anything else only by its type."""
    if isinstance(error, HubError):
        return str(error)
    return f"unexpected {type(error).__name__} while {stage}"


def _header_guess(chunk: bytes) -> tuple[str, str]:
    """MSH-9 (code^event) and MSH-10 from raw bytes, for reporting a message that cannot be read."""
    try:
        header = chunk.split(b"\r", 1)[0].decode("latin-1")
        fields = header.split(header[3])
        components = fields[8].split(fields[1][:1] or "^") if len(fields) > 8 else []
        type_ = "^".join(part for part in components[:2] if part)
        return type_, fields[9] if len(fields) > 9 else ""
    except Exception:  # noqa: BLE001 - a guess, nothing more
        return "", ""

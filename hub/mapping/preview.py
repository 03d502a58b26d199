"""What `hub map FILE --json` prints: for each message in a file, its entries or why it has none.

Stores nothing and sends nothing. Each message is read as the worker reads it (`interpret`), but
mapping is judged apart from identity: a message without a matricule still shows its entries,
and its "identity" says why it would be rejected (or, for an ADT^A40, parked: its MRG-1 must
name a matricule too). A staff master file (MFN^M02) shows the registry update it would make.
Nothing here may raise: every failure of decoding, parsing or mapping becomes ok=false.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.errors import HubError
from hub.hl7.split import split_messages
from hub.mapping.interpret import SECOND_PATIENT_TYPES, Interpretation, Refusal, Stage, interpret
from hub.mapping.loader import MappingSet
from hub.mapping.policy import ReadingPolicy

DECLARING_SENDERS = ReadingPolicy.referent_senders


def preview(path: Path, raw: bytes, mappings: MappingSet, *, fallback_charset: str = "utf-8",
            authorities: frozenset[str] = frozenset(),
            referent_senders: tuple[str, ...] = DECLARING_SENDERS,
            policy: ReadingPolicy | None = None) -> list[dict[str, Any]]:
    """One result object per message in the file (see the `hub map` contract in DESIGN.md).

    `policy` reads what messages do besides entries (the worker's RoutingPolicy: merges,
    référents, registry updates); without it, one is made of the other arguments and reads
    none of that."""
    try:
        chunks, loose = split_messages(raw)
    except Exception as error:  # noqa: BLE001 - a preview reports, it never raises
        return [_failed(path, "", "", _reason("splitting the file", error))]
    if not chunks:
        return [_failed(path, "", "", "no MSH segment")]
    if policy is None:
        policy = ReadingPolicy(fallback_charset=fallback_charset, authorities=authorities,
                               referent_senders=referent_senders)
    results = [_preview_one(path, interpret(chunk, mappings, policy)) for chunk in chunks]
    if loose:
        results.insert(0, _failed(path, "", "", f"{len(loose)} line(s) before the first MSH segment"))
    return results


def _preview_one(path: Path, reading: Interpretation) -> dict[str, Any]:
    type_, control_id = reading.type, reading.control_id
    if reading.unreadable is not None:
        return _failed(path, type_, control_id, _said(reading.unreadable))
    result: dict[str, Any] = {"file": str(path), "type": type_, "control_id": control_id,
                              "ok": False, "entries": []}
    identity = "ok" if reading.identity is None else _said(reading.identity)
    if reading.registry:
        if reading.mapping is None:
            result["ok"] = True
            result["registry"] = [_professional(change) for action in reading.actions
                                  for change in getattr(action, "changes", ())]
        else:
            result["error"] = _said(reading.mapping)
        result["identity"] = "ok"  # a registry message names no patient
        return result
    if reading.unmapped is not None:
        result["error"] = f"no mapping for {type_ or 'an empty MSH-9'}"
    elif reading.mapping is not None and reading.mapping.stage is Stage.ACTIONS \
            and type_ in SECOND_PATIENT_TYPES:  # a merge names a second patient, in MRG-1
        _fill(result, reading)
        if identity == "ok":
            identity = _said(reading.mapping)
    elif reading.mapping is not None:
        result["error"] = _said(reading.mapping)
    elif reading.mapped:
        _fill(result, reading)
    result["identity"] = identity
    return result


def _fill(result: dict[str, Any], reading: Interpretation) -> None:
    result["ok"] = True
    result["entries"] = [
        {"kind": entry.kind, "confidentiality": entry.confidentiality.value,
         "effective_at": entry.effective_at, **entry.payload}
        for entry in reading.entries
    ]
    if reading.patient is not None:
        patient = {key: value for key, value in vars(reading.patient).items()
                   if value and key != "matricule"}
        result["patient"] = patient


def _professional(change: Any) -> dict[str, Any]:
    """One registry record as `hub map` shows it: the MFE-1 event and the professional."""
    event, professional = change
    return {"event": event, "cns_code": professional.cns_code,
            "family_name": professional.family_name, "given_name": professional.given_name,
            "specialty": professional.specialty, "status": professional.status.value}


def _failed(path: Path, type_: str, control_id: str, error: str) -> dict[str, Any]:
    return {"file": str(path), "type": type_, "control_id": control_id, "ok": False,
            "entries": [], "error": error, "identity": "not checked: the message was not read"}


def _said(refusal: Refusal) -> str:
    """A refusal in `hub map`'s words: the verdict's own reason, else its error's."""
    if refusal.error is None:
        return refusal.reason
    stage = {Stage.DECODING: "decoding", Stage.PARSING: "parsing",
             Stage.IDENTITY: "identifying the patient"}.get(refusal.stage, "mapping")
    return _reason(stage, refusal.error)


def _reason(stage: str, error: BaseException) -> str:
    """The hub's own errors say what is wrong without values; anything else only by its type."""
    if isinstance(error, HubError):
        return str(error)
    return f"unexpected {type(error).__name__} while {stage}"

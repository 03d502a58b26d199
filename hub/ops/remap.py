"""Re-mapping: run today's mappings over stored messages again, so that a mapping fixed after
the fact (a unit that was missed, a condition that was wrong) corrects the dossier entries its
messages made before.

Each message is settled in its own transaction: its entries are rewritten in place (their ids,
hidden flags and deliveries stay; a level only ever tightens), entries the mapping now adds are
added, entries it no longer makes are removed, and one `entries.remapped` audit event (actor
operator, counts and entry ids only) lands in the patient's journal. A message whose mapping
fails now keeps its entries. Nothing is routed again: what was delivered was the message, and
the message has not changed. Merges, référent declarations and demographics are events of
their time and are not replayed. `stop` set (Ctrl-C) ends a run between two messages.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from collections.abc import Callable
from datetime import datetime, timezone

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.consent import stricter
from hub.domain.models import Entry, MessageState, StoredEntry
from hub.errors import MappingError, RawCopyPurged, StoreError
from hub.mapping.interpret import interpret, safe_reason
from hub.mapping.loader import MappingSet
from hub.mapping.policy import ReadingPolicy
from hub.routing.outcome import RoutingPolicy
from hub.store.repository import from_json_bytes, to_json_bytes
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory


def remap_messages(uow_factory: UnitOfWorkFactory, mappings: MappingSet, policy: RoutingPolicy,
                   ids: list[str], *, dry_run: bool = False,
                   stop: threading.Event | None = None,
                   progress: Callable[[dict], None] | None = None,
                   by: Operator | None = None) -> dict:
    """Re-map each stored message of `ids`, oldest first, journaled as the operator `by`. With `dry_run`, say what would change
    and change nothing. `progress` is called after each message with its result.

    Shape: {"requested": n, "dry_run": bool, "unchanged": n,
    "changed": [{"id", "updated", "added", "removed"}], "failed": [{"id", "reason"}],
    "skipped": [{"id", "reason"}], "interrupted": bool, "not_done": n}."""
    summary: dict = {"requested": len(ids), "dry_run": dry_run, "unchanged": 0, "changed": [],
                     "failed": [], "skipped": [], "interrupted": False, "not_done": 0}
    for n, id in enumerate(ids):
        if stop is not None and stop.is_set():
            summary["interrupted"], summary["not_done"] = True, len(ids) - n
            break
        try:
            with uow_factory() as uow:
                result = remap_one(uow, id, mappings, policy, dry_run=dry_run, by=by)
                if result["outcome"] == "changed" and not dry_run:
                    uow.commit()
        except StoreError as exc:  # rolled back whole; the next message may still go through
            result = {"outcome": "failed", "id": id, "reason": str(exc)}
        outcome = result.pop("outcome")
        if outcome == "unchanged":
            summary["unchanged"] += 1
        else:
            summary[outcome].append(result)
        if progress is not None:
            progress(result)
    return summary


def remap_one(uow: UnitOfWork, id: str, mappings: MappingSet, policy: RoutingPolicy, *,
              dry_run: bool = False, by: Operator | None = None) -> dict:
    """Re-map one message in `uow` (not committed); its result with an "outcome" key:
    unchanged, changed, failed (the mapping fails now) or skipped (nothing to re-map)."""
    record = uow.messages.get(id)
    if record is None or record.state is not MessageState.STORED:
        why = "no such message" if record is None else f"not stored ({record.state.value})"
        return {"outcome": "skipped", "id": id, "reason": why}
    old = uow.entries.for_message(id)
    try:
        raw = uow.messages.raw(id)
    except RawCopyPurged:
        return {"outcome": "skipped", "id": id, "reason": "its raw copy was purged (retention)"}
    new = _entries_now(raw, mappings, policy)
    if isinstance(new, str):  # a mapping that fails now must not cost the entries made before
        return {"outcome": "failed", "id": id, "reason": new}
    if new is None:
        return {"outcome": "skipped", "id": id, "reason": "no entries (a registry message)"}
    if not new and old:
        return {"outcome": "failed", "id": id,
                "reason": "the mapping makes no entry of it now; its entries are kept"}
    patient_id = old[0].patient_id if old else record.patient_id and (
        uow.patients.merged_into(record.patient_id) or record.patient_id)
    if patient_id is None:
        return {"outcome": "skipped", "id": id, "reason": "filed to no dossier"}
    state = uow.consents.state(patient_id, datetime.now(timezone.utc),
                               policy.referent_access_by_default)
    if state.closed:
        return {"outcome": "skipped", "id": id, "reason": "dossier closed by the patient"}
    # As filing does: at the stricter of the source's level and the patient's default.
    new = [replace(entry, confidentiality=stricter(entry.confidentiality, state.default_level))
           for entry in new]
    updated = [(stored, entry) for stored, entry in zip(old, new) if not _same(stored, entry)]
    added = list(enumerate(new))[len(old):]
    removed = [stored.id for stored in old[len(new):]]
    if not (updated or added or removed):
        return {"outcome": "unchanged", "id": id}
    if not dry_run:
        for stored, entry in updated:
            uow.entries.rewrite(stored.id, entry)
        uow.entries.add_many((patient_id, id, seq, entry) for seq, entry in added)
        uow.entries.remove(removed)
        uow.audit.record(AuditEvent(
            actor=Actor.OPERATOR, action=AuditAction.ENTRIES_REMAPPED, patient_id=patient_id,
            message_id=id, operator=by.name if by else None,
            reason=f"mapping changed: {len(updated)} updated, {len(added)} added, "
                   f"{len(removed)} removed" + (f" ({', '.join(removed)})" if removed else "")))
    return {"outcome": "changed", "id": id, "updated": len(updated), "added": len(added),
            "removed": len(removed)}


def _entries_now(raw: bytes, mappings: MappingSet,
                 policy: RoutingPolicy) -> list[Entry] | None | str:
    """What today's mappings make of `raw`: its entries, None for a registry message (no
    mapping makes entries of it), or why it cannot be mapped now (a safe reason).

    Read as the worker reads it (`interpret`), except that the patient's identity and the
    message's other actions are not judged again: they were settled when it was filed."""
    reading = interpret(raw, mappings, ReadingPolicy(fallback_charset=policy.fallback_charset,
                                                     authorities=policy.authorities))
    if reading.registry:
        return None
    refusal = reading.unreadable or reading.mapping
    if refusal is not None:
        return refusal.reason
    if reading.unmapped is not None:
        return safe_reason(MappingError(f"no mapping for {reading.type} now"))
    return reading.entries


def _same(stored: StoredEntry, entry: Entry) -> bool:
    """Whether the stored entry already says what `entry` says (compared as stored: JSON), its
    level included: a level the mapping now makes stricter (a code added to the sensitive list)
    is a change; a looser one is not, since a rewrite never loosens a level."""
    plain = from_json_bytes(to_json_bytes({"payload": entry.payload,
                                           "effective_at": entry.effective_at}), "entry")
    return (stored.kind == entry.kind and stored.payload == (plain["payload"] or {})
            and stored.effective_at == plain["effective_at"]
            and stricter(stored.confidentiality, entry.confidentiality)
            == stored.confidentiality)

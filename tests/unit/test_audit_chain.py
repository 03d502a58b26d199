"""The audit chain without a database: the canonical encoding, the hash, and what a check of a
chain reports for each kind of tampering."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.domain.audit import (
    GENESIS_HASH, AuditEvent, AuditOutcome, FilingDetail, VerifyResult, validate_event,
)
from hub.domain.audit_chain import HASHED_FIELDS, canonical_bytes, check_chain, event_hash

AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def event(seq: int = 1, prev_hash: str = GENESIS_HASH, **changes) -> AuditEvent:
    base = AuditEvent(actor="123456-78", action="deliver", outcome=AuditOutcome.OK,
                      reason="grant in force", patient_id="p" * 32, entry_id="e" * 32,
                      message_id=None, at=AT, id=f"{seq:032x}", seq=seq, prev_hash=prev_hash)
    return replace(base, **changes)


def chain(n: int) -> list[dict]:
    """n stored rows (column values, as the repository reads them), correctly linked."""
    rows, previous = [], GENESIS_HASH
    for seq in range(1, n + 1):
        e = event(seq, previous, reason=f"reason {seq}", at=AT + timedelta(seconds=seq))
        e = replace(e, hash=event_hash(e))
        rows.append({name: getattr(e, name) for name in (*HASHED_FIELDS, "hash")})
        previous = e.hash
    return rows


def test_the_canonical_encoding_is_netstrings_in_a_fixed_order():
    assert canonical_bytes(event()) == (
        b"12:hub-audit-v1,"
        b"1:1,"
        b"32:00000000000000000000000000000001,"
        b"27:2026-03-01T09:30:15.123456Z,"
        b"9:123456-78,"
        b"7:deliver,"
        b"32:" + b"p" * 32 + b","
        b"32:" + b"e" * 32 + b","
        b"~"
        b"2:ok,"
        b"14:grant in force,"
        b"64:" + b"0" * 64 + b","
    )


def test_the_hash_is_the_hex_sha256_of_the_encoding():
    e = event()
    assert event_hash(e) == hashlib.sha256(canonical_bytes(e)).hexdigest()
    assert len(event_hash(e)) == 64 and event_hash(e) == event_hash(e).lower()


def test_a_mapping_of_column_values_hashes_like_the_event():
    e = event()
    assert event_hash(asdict(e)) == event_hash(e)


def test_null_and_empty_and_shifted_text_encode_differently():
    assert canonical_bytes(event(message_id=None)) != canonical_bytes(event(message_id=""))
    # Moving text from one field to the next must change the bytes (no separator ambiguity).
    a = event(actor="hub", action="message.discarded", reason="x,y")
    b = event(actor="hub", action="message.discarded,", reason="y")
    assert canonical_bytes(a) != canonical_bytes(b)
    assert canonical_bytes(event(reason="2:ab,")) != canonical_bytes(event(reason="2:ab"))


def test_time_is_encoded_in_utc_whatever_the_zone_it_was_given_in():
    plus_two = AT.astimezone(timezone(timedelta(hours=2)))
    assert event_hash(event(at=plus_two)) == event_hash(event())
    assert b"2026-03-01T09:30:15.123456Z" in canonical_bytes(event(at=plus_two))


def test_non_ascii_lengths_count_utf8_bytes():
    assert b"10:r\xc3\xa9f\xc3\xa9rent," in canonical_bytes(event(reason="référent"))


def test_every_hashed_field_changes_the_hash():
    original = event()
    changed = {"seq": 2, "id": "f" * 32, "at": AT + timedelta(microseconds=1),
               "actor": "123456-79", "action": "read", "patient_id": "q" * 32,
               "entry_id": None, "message_id": "m" * 32, "outcome": AuditOutcome.DENIED,
               "reason": "grant in forcE", "prev_hash": "1" * 64}
    assert set(changed) == set(HASHED_FIELDS)
    for name, value in changed.items():
        assert event_hash(replace(original, **{name: value})) != event_hash(original), name


def test_values_that_are_not_text_numbers_or_times_are_refused():
    with pytest.raises(TypeError):
        canonical_bytes(event(reason=b"bytes"))
    with pytest.raises(ValueError):
        canonical_bytes(event(at=datetime(2026, 3, 1)))


def test_an_intact_chain_checks_and_names_its_head():
    rows = chain(5)
    result = check_chain(rows)
    assert (result.ok, result.checked, result.first_broken_seq) == (True, 5, None)
    assert (result.head_seq, result.head_hash) == (5, rows[-1]["hash"])
    assert check_chain([]) == VerifyResult(ok=True, checked=0)


def test_an_edited_event_is_the_first_broken_one():
    rows = chain(5)
    rows[2]["reason"] = "nothing to see"
    result = check_chain(rows)
    assert (result.ok, result.first_broken_seq, result.checked) == (False, 3, 2)
    assert "edited" in result.problem


def test_an_edited_and_rehashed_event_breaks_the_next_link():
    rows = chain(5)
    rows[2]["reason"] = "nothing to see"
    rows[2]["hash"] = event_hash(rows[2])
    result = check_chain(rows)
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert result.problem == "event 4 does not link to event 3"


def test_a_deleted_event_is_a_gap():
    rows = chain(5)
    del rows[2]
    result = check_chain(rows)
    assert (result.ok, result.first_broken_seq, result.checked) == (False, 3, 2)
    assert result.problem == "event 3 is missing (after event 2 comes event 4)"


def test_a_deleted_first_event_is_a_gap_too():
    result = check_chain(chain(3)[1:])
    assert (result.ok, result.first_broken_seq, result.checked) == (False, 1, 0)


def test_renumbered_events_after_a_deletion_break_at_the_renumbered_one():
    rows = chain(5)
    del rows[2]
    for row in rows[2:]:
        row["seq"] -= 1
    assert check_chain(rows).first_broken_seq == 3


def test_a_forged_event_inserted_with_a_valid_hash_breaks_the_link_after_it():
    rows = chain(5)
    forged = dict(rows[2], id="f" * 32, reason="forged", prev_hash=rows[1]["hash"])
    forged["hash"] = event_hash(forged)
    for row in rows[2:]:
        row["seq"] += 1
    rows.insert(2, forged)
    result = check_chain(rows)
    # The forged row itself hashes and links; the next one was renumbered, so it is edited.
    assert (result.ok, result.first_broken_seq) == (False, 4)


def test_swapped_seqs_break_at_the_first_of_the_two():
    rows = chain(5)
    rows[1]["seq"], rows[3]["seq"] = rows[3]["seq"], rows[1]["seq"]
    rows.sort(key=lambda r: r["seq"])
    result = check_chain(rows)
    assert (result.ok, result.first_broken_seq) == (False, 2)


def test_a_first_event_that_does_not_start_the_chain():
    rows = chain(2)
    rows[0]["prev_hash"] = "1" * 64
    rows[0]["hash"] = event_hash(rows[0])
    result = check_chain(rows)
    assert result.first_broken_seq == 1
    assert result.problem == "event 1 does not link to the start of the chain"


def test_an_unencodable_row_is_reported_not_raised():
    rows = chain(3)
    rows[1]["at"] = 3.5
    result = check_chain(rows)
    assert (result.ok, result.first_broken_seq) == (False, 2)
    assert "cannot be encoded" in result.problem


@pytest.mark.parametrize("changes, message", [
    ({"actor": "Dr Müller"}, "actor"),
    ({"actor": "12345-678"}, "actor"),
    ({"actor": " 123456-78"}, "actor"),
    ({"action": "Deliver"}, "action"),
    ({"action": ""}, "action"),
    ({"outcome": "maybe"}, "outcome"),
    ({"reason": None}, "reason"),
    ({"reason": "sent for 1893120105732"}, "matricule"),
    ({"reason": "legacy 18931201057"}, "matricule"),
    ({"at": datetime(2026, 3, 1)}, "timezone"),
])
def test_validation_refuses_what_the_log_must_not_hold(changes, message):
    with pytest.raises(ValueError, match=message):
        validate_event(event(**changes))


@pytest.mark.parametrize("actor", ["123456-78", "patient", "cns-feed", "hub"])
def test_validation_accepts_the_four_kinds_of_actor(actor):
    validate_event(event(actor=actor, action="consent.grant",
                         reason=f"duplicate of message {'1' * 20}{'a' * 12}"))


def test_a_row_the_store_could_not_read_is_the_broken_one():
    rows = chain(3)
    rows[1] = {"seq": 2, "unreadable": "ValueError: Couldn't parse datetime string"}
    result = check_chain(rows)
    assert (result.ok, result.first_broken_seq, result.checked) == (False, 2, 1)
    assert result.problem.startswith("event 2 cannot be read (ValueError")


def test_an_event_naming_an_operator_is_encoded_as_version_2_after_the_same_fields():
    plain = event()
    named = event(operator="desk-anne")
    v1 = canonical_bytes(plain)
    assert canonical_bytes(named) == (b"12:hub-audit-v2," + v1[len(b"12:hub-audit-v1,"):]
                                      + b"9:desk-anne,")
    # A row as stored before the column existed (no "operator" key) hashes as version 1.
    old_row = {name: getattr(plain, name) for name in HASHED_FIELDS}
    assert event_hash(old_row) == event_hash(plain) == hashlib.sha256(v1).hexdigest()
    assert event_hash(named) != event_hash(plain)


def test_a_chain_of_old_events_then_events_naming_operators_checks_and_the_name_is_sealed():
    rows = chain(2)  # as written before operators were named: no "operator" key at all
    previous = rows[-1]["hash"]
    for seq, name in ((3, "desk-anne"), (4, None), (5, "clerk.bob")):
        e = event(seq, previous, actor="patient", action="consent.grant", operator=name)
        e = replace(e, hash=event_hash(e))
        rows.append({name: getattr(e, name) for name in (*HASHED_FIELDS, "operator", "hash")})
        previous = e.hash
    assert check_chain(rows) == VerifyResult(ok=True, checked=5, head_seq=5, head_hash=previous)
    for forged in ("mallory", None):
        tampered = [dict(r) for r in rows]
        tampered[2]["operator"] = forged
        result = check_chain(tampered)
        assert (result.ok, result.first_broken_seq) == (False, 3)
    tampered = [dict(r) for r in rows]
    tampered[3]["operator"] = "desk-anne"  # an operator slipped into an event without one
    assert check_chain(tampered).first_broken_seq == 4


@pytest.mark.parametrize("name, message", [
    ("", "empty"), ("   ", "empty"), (" anne", "spaces"), ("a" * 65, "at most"),
    ("anne\x1b[2J", "control"), ("for 1893120105732", "matricule"), (7, "empty"),
])
def test_validation_refuses_an_operator_name_the_log_must_not_hold(name, message):
    with pytest.raises(ValueError, match=message):
        validate_event(event(actor="operator", operator=name))


def test_validation_accepts_an_operator_or_a_recorded_choice():
    validate_event(event(actor="operator", action="dossier.read", operator="anne.muller"))
    validate_event(event(actor="patient", action="consent.grant", operator="Anne Müller"))


def test_an_event_with_a_detail_is_version_3_and_its_ids_are_sealed():
    filed = FilingDetail(("a" * 32, "b" * 32), "LAB^KETTER", "123456-78", "ordering").to_json()
    plain, detailed = event(), event(action="entries.filed", detail=filed)
    v1 = canonical_bytes(plain)
    body = canonical_bytes(replace(plain, action="entries.filed"))[len(b"12:hub-audit-v1,"):]
    assert canonical_bytes(detailed) == (b"12:hub-audit-v3," + body + b"~"
                                         + f"{len(filed)}:{filed},".encode())
    assert canonical_bytes(event(operator="desk-anne", detail=filed)).endswith(
        b"9:desk-anne," + f"{len(filed)}:{filed},".encode())
    assert event_hash(plain) == hashlib.sha256(v1).hexdigest()  # older events unchanged
    rows, previous = chain(2), None
    previous = rows[-1]["hash"]
    for seq, detail in ((3, filed), (4, None)):
        e = event(seq, previous, detail=detail)
        e = replace(e, hash=event_hash(e))
        rows.append({name: getattr(e, name) for name in (*HASHED_FIELDS, "operator", "detail",
                                                          "hash")})
        previous = e.hash
    assert check_chain(rows).ok
    tampered = [dict(r) for r in rows]
    tampered[2]["detail"] = filed.replace("a" * 32, "c" * 32)  # an entry id swapped
    assert check_chain(tampered).first_broken_seq == 3
    tampered = [dict(r) for r in rows]
    tampered[3]["detail"] = filed  # a detail slipped into an event without one
    assert check_chain(tampered).first_broken_seq == 4


@pytest.mark.parametrize("detail, message", [
    ("not json", "JSON"), ("[1, 2]", "object"), (7, "JSON string"),
    ('{"sender": "1893120105732"}', "matricule"),
])
def test_validation_refuses_a_detail_the_log_must_not_hold(detail, message):
    with pytest.raises(ValueError, match=message):
        validate_event(event(detail=detail))

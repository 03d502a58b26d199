"""`hub rejected` on real databases (SQLite and PostgreSQL): which records are listed and taken
by a retry, and what a retry does to those that cannot be published (still refused, a batch, a
truncated or purged copy). Publishing and the worker's filing are proven end to end in
tests/e2e/test_rejected_retry.py, on RabbitMQ."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from stdnum import luhn, verhoeff

from hub.domain.audit import Actor, AuditAction, AuditEvent, AuditOutcome
from hub.domain.models import MessageRecord, MessageState
from hub.inbound.intake import IntakePolicy
from hub.ops import rejected
from hub.store import tables
from tests.fixtures.messages import SyntheticPatient, adt_a01, encoded

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
POLICY = IntakePolicy(supported_versions=frozenset({"2.5"}), identity_exempt=frozenset({"MFN"}),
                      authorities=frozenset())


def valid_body(control_id: str, base: str = "19780921044") -> bytes:
    matricule = base + luhn.calc_check_digit(base) + verhoeff.calc_check_digit(base)
    return encoded(adt_a01(SyntheticPatient(matricule, "Retry", "Zoë", base[:8]), control_id))


def keep(uow, id: str, body: bytes, *, hours: int = 0, reason: str, ack: str = "AE",
         err: int | None = None, type: str = "ADT^A01",
         state: MessageState = MessageState.REJECTED) -> None:
    uow.messages.add(MessageRecord(id * 32, "LABSYS^CHL", f"C-{id}", type, "2.5", state,
                                   T0 + timedelta(hours=hours), reason=reason, ack_code=ack,
                                   err_code=err), body)


def retry(uow_factory, ids, dry_run=False) -> dict:
    return rejected.retry_messages(uow_factory, None, "unused", POLICY, ids, dry_run=dry_run)


@pytest.fixture
def kept(uow_factory):
    """Four rejected records and a parked one, oldest first: a, b, c, d, then p."""
    with uow_factory() as uow:
        keep(uow, "a", valid_body("C-a"), reason="PID-3: matricule fails its check digits")
        keep(uow, "b", valid_body("C-b"), hours=1, reason="no matricule in PID-3 (identifier "
             "type NN)")
        keep(uow, "c", valid_body("C-c"), hours=2, ack="AR", err=203,
             reason="HL7 version 2.5 (MSH-12) is not supported (accepted: 2.6)")
        keep(uow, "d", valid_body("C-d"), hours=3, ack="AR", reason="MSH-11.1 must be P, T or D")
        keep(uow, "p", valid_body("C-p"), hours=4, reason="unmapped: ADT^A01",
             state=MessageState.PARKED)
        uow.commit()
    return uow_factory


def listed(uow_factory, **filters) -> list[str]:
    with uow_factory() as uow:
        return [row["id"][0] for row in rejected.list_rejected(uow, **filters)["rejected"]]


def test_list_filters_by_err_3_stored_or_read_from_an_old_records_ack(kept):
    assert listed(kept) == ["d", "c", "b", "a"]  # rejected only, newest first
    assert listed(kept, code=102) == ["a"]
    assert listed(kept, code=101) == ["b"]
    assert listed(kept, code=203) == ["c"]
    assert listed(kept, code=202) == []  # an old AR's ERR-3 is not guessed from its text
    assert listed(kept, reason="MSH-1") == ["d", "c"]
    assert listed(kept, reason="matricule", code=102) == ["a"]
    assert listed(kept, since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)) == ["c", "b"]
    assert listed(kept, reason="msh", limit=1) == ["d"]


def test_selection_names_what_it_refuses_and_all_takes_open_records_oldest_first(kept):
    with kept() as uow:
        chosen, refused = rejected.retry_selection(
            uow, ["a" * 32, "p" * 32, "z" * 32, "c" * 32, "a" * 32], code=102)
        assert chosen == ["a" * 32]
        assert refused == [{"id": "p" * 32, "reason": "not rejected (parked)"},
                           {"id": "z" * 32, "reason": "no such message"},
                           {"id": "c" * 32, "reason": "does not match --reason/--code"}]
        assert rejected.retry_selection(uow, every_open=True) == (
            ["a" * 32, "b" * 32, "c" * 32, "d" * 32], [])
        # A record published by a retry is no longer open; one still refused stays open.
        uow.audit.record(AuditEvent(actor=Actor.OPERATOR, action=AuditAction.MESSAGE_RETRIED,
                                    reason="retried as message x", message_id="b" * 32))
        uow.audit.record(AuditEvent(actor=Actor.OPERATOR, action=AuditAction.MESSAGE_RETRIED,
                                    outcome=AuditOutcome.FAILED, reason="still refused",
                                    message_id="c" * 32))
        uow.commit()
        assert rejected.retry_selection(uow, every_open=True, reason="MSH") == (
            ["c" * 32, "d" * 32], [])
        [row] = [r for r in rejected.list_rejected(uow)["rejected"] if r["id"] == "b" * 32]
        assert (row["status"], row["retries"], row["last_retried_at"] is not None) == (
            "retried", [], True)


def test_a_record_still_refused_keeps_its_state_with_its_new_reason_after_a_real_run_only(kept):
    with kept() as uow:
        keep(uow, "e", valid_body("C-e").replace(b"|2.5|", b"|2.9|", 1),
             reason="PID-3: matricule fails its check digits")
        uow.commit()
    dry = retry(kept, ["e" * 32], dry_run=True)
    assert dry["still_rejected"] == [{"id": "e" * 32, "ack_code": "AR", "err_code": 203,
                                      "reason": dry["still_rejected"][0]["reason"]}]
    assert "MSH-12" in dry["still_rejected"][0]["reason"]
    with kept() as uow:
        assert uow.messages.get("e" * 32).reason == "PID-3: matricule fails its check digits"
        assert uow.audit.for_message("e" * 32) == []

    assert retry(kept, ["e" * 32])["still_rejected"][0]["err_code"] == 203
    with kept() as uow:
        record = uow.messages.get("e" * 32)
        assert (record.state, record.ack_code, record.err_code) == (
            MessageState.REJECTED, "AR", 203)
        assert "MSH-12" in record.reason
        [event] = uow.audit.for_message("e" * 32)
        assert (event.actor, event.action, event.outcome) == (
            "operator", "message.retried", "failed")
        [row] = rejected.list_rejected(uow, code=203, reason="2.9")["rejected"]
        assert row["status"] == "open"


def test_a_dry_run_says_what_would_pass_and_touches_nothing(kept):
    summary = retry(kept, ["a" * 32, "c" * 32], dry_run=True)
    assert summary["passed"] == [{"id": "a" * 32, "retry_id": None},
                                 {"id": "c" * 32, "retry_id": None}]
    with kept() as uow:
        assert uow.audit.count() == 0
        assert uow.messages.count_by_state()["rejected"] == 4


def test_batches_too_short_copies_and_purged_copies_are_refused_with_their_reason(kept, engine):
    message = valid_body("B-1")
    with kept() as uow:
        keep(uow, "f", b"BHS|^~\\&|LAB|CHL\r" + message + b"BTS|5\r", type="BATCH", ack="AR",
             err=100, reason="an older batch rule")
        keep(uow, "g", b"BHS|^~\\&|LAB|CHL\r" + message + b"BTS|1\r", type="BATCH", ack="AR",
             err=100, reason="an older batch rule")
        keep(uow, "h", message[:40], ack="AR", err=207, reason="message of 9000000 bytes "
             "refused: the hub takes at most 8388608 bytes per frame (mllp.max_frame)")
        keep(uow, "i", message, reason="PID-3: matricule fails its check digits")
        uow.commit()
    with engine.begin() as connection:  # as the retention job leaves a purged copy
        connection.execute(update(tables.messages).where(tables.messages.c.id == "i" * 32)
                           .values(raw_key_id=tables.PURGED_KEY_ID))
    summary = retry(kept, ["f" * 32, "g" * 32, "h" * 32, "i" * 32])
    [still] = summary["still_rejected"]
    assert (still["id"], still["err_code"]) == ("f" * 32, 100) and "BTS-1" in still["reason"]
    assert [(r["id"][0], r["reason"].split(":")[0].split(",")[0]) for r in summary["refused"]] == [
        ("g", "a batch refused whole passes the batch rules now"),
        ("h", "refused for its size"), ("i", "its raw copy was purged ([retention] raw_days)")]
    assert summary["passed"] == []

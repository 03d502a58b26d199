"""A recipient that answers late, malformed and mismatched ACKs (and now and then a good one):
a delivery is marked delivered only on an AA or CA whose MSA-2 echoes its own MSH-10, so none
is delivered on a bad ACK; every delivery still gets through on a good one, in each patient's
order.
"""
from __future__ import annotations

import collections
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.fixtures.bad_acks_recipient import BadAckRecipient
from tests.fixtures.doctor import DOCTOR, register_doctor
from tests.fixtures.ledger import Ledger, poll, send_numbered
from tests.fixtures.messages import patient
from tests.fixtures.registry import FAST_OUTBOUND, oru

PATIENTS = 20
PER_PATIENT = 5
ACK_TIMEOUT_S = 1.0
SETTLE_TIMEOUT_S = 90.0


@pytest.fixture
def recipient():
    doctor = BadAckRecipient(late_s=ACK_TIMEOUT_S + 0.5)
    doctor.start()
    yield doctor
    doctor.stop()


def test_late_malformed_and_mismatched_acks_never_mark_a_delivery_delivered(
        fault_hub, recipient, fault_report):
    env, _postgres = fault_hub
    url = env.env["HUB_DATABASE_URL"]
    env.env.update(FAST_OUTBOUND)
    env.env.update({"HUB_OUTBOUND__TIMEOUT": str(ACK_TIMEOUT_S),
                    "HUB_OUTBOUND__ACK_PATIENCE": "0.5"})
    register_doctor(env, url, recipient.port, PATIENTS)
    prefix = f"BADACK-{uuid.uuid4().hex[:6]}-"
    total = PATIENTS * PER_PATIENT
    frames = [(f"{prefix}{n}", oru(patient(n % PATIENTS), f"{prefix}{n}", DOCTOR))
              for n in range(total)]
    engine = create_engine(url)
    env.start("listener")
    env.start("worker")
    env.start("sender")
    ledger = Ledger()
    try:
        send_numbered(env.mllp_port, frames, ledger)
        started = time.monotonic()
        rows = poll(lambda: _all_delivered(engine, total), timeout=SETTLE_TIMEOUT_S) \
            or _deliveries(engine)
        settled_s = time.monotonic() - started
    finally:
        engine.dispose()
    accepted = recipient.accepted()
    answered = collections.Counter(what for _c, _p, what in recipient.answers)
    delivered = {c for c, state, _code in rows if state == "delivered"}
    counts = {**ledger.counts(), "deliveries": len(rows), "delivered": len(delivered),
              **{f"answered_{k}": v for k, v in sorted(answered.items())},
              "delivered_on_bad_ack": len(delivered - accepted),
              "delivered_not_aa_ca": sum(1 for c, s, code in rows
                                         if s == "delivered" and code not in ("AA", "CA")),
              "inversions": _inversions(recipient.answers, accepted, prefix),
              "seconds_to_deliver_all": round(settled_s, 1)}
    fault_report("late, malformed and mismatched ACKs", counts)

    assert counts["aa"] == total, counts
    assert all(answered[k] > 0 for k in ("mismatch", "malformed", "bad_code", "late", "silent")), \
        counts
    assert counts["delivered_on_bad_ack"] == counts["delivered_not_aa_ca"] == 0, counts
    assert counts["deliveries"] == counts["delivered"] == total, counts
    assert counts["inversions"] == 0, counts


def _deliveries(engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(
            text("SELECT control_id, state, ack_code FROM deliveries"))]


def _all_delivered(engine, total: int):
    rows = _deliveries(engine)
    return len(rows) == total and all(state == "delivered" for _c, state, _a in rows) and rows


def _inversions(answers, accepted: set[str], prefix: str) -> int:
    """Per patient, pairs of messages whose first matching acceptance came in the opposite
    order of their numbers (message n is patient n % PATIENTS's)."""
    firsts: list[int] = []
    seen: set[str] = set()
    for control_id, placer_id, what in answers:
        if control_id in accepted and control_id not in seen and what != "late":
            seen.add(control_id)
            firsts.append(int(placer_id.removeprefix("PL" + prefix)))
    by_patient = collections.defaultdict(list)
    for n in firsts:
        by_patient[n % PATIENTS].append(n)
    return sum(1 for ns in by_patient.values() for i, a in enumerate(ns) for b in ns[i + 1:] if a > b)

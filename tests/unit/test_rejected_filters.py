"""Which rejected records `hub rejected` selects: ERR-3 as stored, or read from an old record's
ACK code (the listener answers AE only for the identity check); the reason filter; and the
ERR-3 a worker reads from the listener's header."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.broker import headers as h
from hub.broker.port import Delivery
from hub.domain.models import MessageRecord, MessageState
from hub.ops.rejected import err_code_of, matches
from hub.routing.outcome import record_for


def record(ack: str | None, reason: str, err: int | None = None) -> MessageRecord:
    return MessageRecord("a" * 32, "LAB^CHL", "C1", "ORU^R01", "2.5", MessageState.REJECTED,
                         datetime(2026, 1, 1, tzinfo=UTC), reason=reason, ack_code=ack,
                         err_code=err)


@pytest.mark.parametrize(("ack", "reason", "err", "expected"), [
    ("AE", "PID-3: matricule fails its check digits", None, 102),
    ("AE", "PID-3 repetition 2: matricule must have 13 digits (or 11 in the legacy form)", None,
     102),
    ("AE", "no matricule in PID-3 (identifier type NN or assigning authority CNS)", None, 101),
    ("AR", "MSH-11.1 must be P, T or D", None, None),  # AR has many codes: not guessed
    ("AR", "MSH-11.1 must be P, T or D", 202, 202),
    ("AE", "PID-3: matricule fails its check digits", 101, 101),  # stored wins
])
def test_err_3_is_stored_or_read_from_an_identity_ae(ack, reason, err, expected):
    assert err_code_of(record(ack, reason, err)) == expected


def test_filters_combine_and_reason_is_a_case_insensitive_part():
    old = record("AE", "PID-3: matricule fails its check digits")
    assert matches(old) and matches(old, code=102) and matches(old, reason="CHECK DIGITS")
    assert not matches(old, code=101)
    assert not matches(old, reason="check digits", code=101)
    assert not matches(old, reason="MSH-12")


@pytest.mark.parametrize(("value", "expected"), [("102", 102), (None, None), ("x", None)])
def test_the_worker_keeps_the_err_3_the_listener_published(value, expected):
    headers = {h.VERDICT: h.REJECTED, h.ACK_CODE: "AE", h.REASON: "PID-3: ...",
               h.RECEIVED_AT: "2026-01-01T00:00:00+00:00"}
    if value is not None:
        headers[h.ERR_CODE] = value
    got = record_for(Delivery(1, b"MSH|", "m" * 32, headers), MessageState.REJECTED, "r")
    assert got.err_code == expected

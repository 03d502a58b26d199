"""The audit events outbound writes: the right action and outcome for each end of a delivery,
and reasons made of codes and the hub's own words, whatever a recipient or a failure said."""
from datetime import UTC, datetime

import pytest

from hub.bootstrap import uses_tls
from hub.domain.audit import AuditEvent, validate_event
from hub.domain.delivery import Delivery, DeliveryState
from hub.domain.professional import Destination, Professional
from hub.outbound.journal import delivery_event
from hub.outbound.report import Outcome

T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MATRICULE = "1893120105732"


def delivery(recipient="123456-78", attempts=0) -> Delivery:
    return Delivery("d1", "m1", "e1", "p1", recipient, "127.0.0.1:2575", "OUT1",
                    DeliveryState.PENDING, attempts, T, None, None, 1, T, T)


def event_for(state, code, reason, **kw) -> AuditEvent:
    d = delivery(**kw)
    event = delivery_event(d, Outcome(d, state, code, reason))
    validate_event(event)  # fit for the log as it stands
    return event


def test_delivered_is_a_deliver_ok_naming_the_recipient_and_what_went():
    event = event_for(DeliveryState.DELIVERED, "AA", "AA")
    assert (event.actor, event.action, event.outcome, event.reason) == (
        "123456-78", "deliver", "ok", "AA")
    assert (event.patient_id, event.entry_id, event.message_id) == ("p1", "e1", "m1")


def test_denied_at_send_time_is_a_deny_with_the_consent_reason():
    event = event_for(DeliveryState.DENIED, "denied", "grant revoked")
    assert (event.action, event.outcome, event.reason) == ("deny", "denied", "grant revoked")


@pytest.mark.parametrize("code, reason, expected", [
    ("AR", "refused: AR (ERR-3 207)", "refused by recipient: AR (ERR-3 207)"),
    ("CR", "refused: CR", "refused by recipient: CR"),
    ("no-answer", f"gave up after 3 attempts: no answer: {MATRICULE} in a socket error",
     "gave up after 3 attempts: last no-answer"),
    ("AE", f"gave up after 3 attempts: AE {MATRICULE}", "gave up after 3 attempts: last AE"),
    (f"X{MATRICULE}", "gave up", "gave up after 3 attempts: last unrecognised answer"),
])
def test_parked_keeps_codes_and_our_words_only(code, reason, expected):
    event = event_for(DeliveryState.PARKED, code, reason, attempts=2)
    assert (event.action, event.outcome, event.reason) == ("deliver", "failed", expected)
    assert MATRICULE not in event.reason


def test_a_retry_is_not_journaled():
    d = delivery()
    assert delivery_event(d, Outcome(d, DeliveryState.PENDING, "AE", "AE")) is None


def test_an_id_that_is_no_cns_code_is_journaled_as_the_hub_not_refused():
    assert event_for(DeliveryState.DELIVERED, "AA", "AA", recipient="LAB-7").actor == "hub"


def doctor(code, host, port, tls):
    return Professional(code, "Muller", "Jean", "gp",
                        destination=Destination(host, port, "CAB", "DOC", tls=tls))


def test_an_address_is_tls_when_any_destination_there_asks_for_it():
    registry = [doctor("123456-78", "10.0.0.1", 2575, False),
                doctor("123456-79", "10.0.0.1", 2575, True),
                doctor("123456-80", "10.0.0.2", 2575, False),
                Professional("123456-81", "Thill", "Ann", "gp")]
    assert uses_tls(registry, "10.0.0.1", 2575)
    assert not uses_tls(registry, "10.0.0.2", 2575)
    assert not uses_tls(registry, "10.0.0.1", 2576)

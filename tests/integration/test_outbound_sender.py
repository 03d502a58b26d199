"""DestinationSender against fake recipients over loopback: a persistent connection, and no ACK
ever credited to a message it does not answer."""
import ssl
import time

import pytest

from hub.outbound.ack_reader import MISMATCH, NO_ANSWER
from hub.outbound.readdress import readdress
from hub.outbound.sender import DestinationSender
from tests.fixtures.certs import make_pki
from tests.fixtures.fake_recipient import Reply, recipients_started
from tests.fixtures.messages import encoded, oru_r01, patient


def outbound(n: int, control_id: str) -> bytes:
    raw = encoded(oru_r01(patient(n), f"LAB{n}", n_obx=2))
    return readdress(raw, control_id=control_id, receiving_application="CAB",
                     receiving_facility="DOC", sending_application="DSP", sending_facility="HUB")


@pytest.fixture
def recipients():
    with recipients_started() as start:
        yield start


def test_messages_share_one_connection_and_are_credited_in_turn(recipients):
    recipient = recipients()
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=2)
    try:
        results = [sender.send(outbound(n, f"OUT{n}"), f"OUT{n}") for n in range(3)]
    finally:
        sender.close()
    assert [r.code for r in results] == ["AA", "AA", "AA"]
    assert all(r.accepted for r in results)
    assert recipient.control_ids() == ["OUT0", "OUT1", "OUT2"]
    assert recipient.connections == 1
    assert sender.key == f"127.0.0.1:{recipient.port}"


def test_a_late_ack_is_never_credited_to_the_next_message(recipients):
    # The first message is answered (AA) after the sender gave up on it; the second gets an AE,
    # so crediting the stale AA to it would show.
    recipient = recipients(lambda n, payload: Reply(delay=1.0) if n == 0 else Reply(code="AE"))
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=0.3)
    try:
        first = sender.send(outbound(0, "OUT0"), "OUT0")
        assert first.code == NO_ANSWER and first.retryable and not sender.connected
        time.sleep(1.2)  # the late AA for OUT0 has been written by now
        second = sender.send(outbound(1, "OUT1"), "OUT1")
    finally:
        sender.close()
    assert second.code == "AE" and not second.accepted
    assert recipient.connections == 2  # the second went on a fresh connection


def test_an_ack_for_another_message_is_a_mismatch_and_drops_the_connection(recipients):
    recipient = recipients(lambda n, payload: Reply(control_id="SOMEONE-ELSE") if n == 0
                           else Reply())
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=2)
    try:
        first = sender.send(outbound(0, "OUT0"), "OUT0")
        assert first.code == MISMATCH and not first.accepted and first.retryable
        assert not sender.connected
        again = sender.send(outbound(0, "OUT0"), "OUT0")
    finally:
        sender.close()
    assert again.accepted
    assert recipient.connections == 2


def test_rejections_and_errors_keep_the_connection(recipients):
    codes = ["AR", "AE", "CR", "CE", "CA"]
    recipient = recipients(lambda n, payload: Reply(code=codes[n]))
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=2)
    try:
        results = [sender.send(outbound(n, f"OUT{n}"), f"OUT{n}") for n in range(5)]
    finally:
        sender.close()
    assert [(r.code, r.accepted, r.retryable) for r in results] == [
        ("AR", False, False), ("AE", False, True), ("CR", False, False), ("CE", False, True),
        ("CA", True, False)]
    assert results[1].error_code == "207"
    assert recipient.connections == 1


def test_a_recipient_that_is_down_then_back_is_reconnected(recipients):
    recipient = recipients()
    recipient.stop()
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=1)
    try:
        down = sender.send(outbound(0, "OUT0"), "OUT0")
        assert down.code == NO_ANSWER and down.retryable and "cannot connect" in down.text
        recipient.start()
        assert sender.send(outbound(0, "OUT0"), "OUT0").accepted
        # A restart while the connection is idle costs one retryable failure, no more.
        recipient.stop()
        recipient.start()
        stale = sender.send(outbound(1, "OUT1"), "OUT1")
        assert stale.code == NO_ANSWER and "closed" in stale.text
        assert sender.send(outbound(1, "OUT1"), "OUT1").accepted
    finally:
        sender.close()
    assert recipient.control_ids() == ["OUT0", "OUT1"]


def test_a_silent_recipient_costs_at_most_the_timeout(recipients):
    recipient = recipients(lambda n, payload: Reply(silent=True))
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=0.3)
    started = time.monotonic()
    result = sender.send(outbound(0, "OUT0"), "OUT0")
    assert time.monotonic() - started < 1.5
    assert result.code == NO_ANSWER and "timed out" in result.text
    sender.close()


def test_tls_destination(recipients, tmp_path):
    pki = make_pki(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(pki.server_cert, pki.server_key)
    recipient = recipients(ssl_context=server)
    client = ssl.create_default_context(cafile=str(pki.ca))
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=2, ssl_context=client)
    try:
        assert sender.send(outbound(0, "OUT0"), "OUT0").accepted
        assert sender.send(outbound(1, "OUT1"), "OUT1").accepted
    finally:
        sender.close()
    assert recipient.connections == 1
    untrusting = DestinationSender("127.0.0.1", recipient.port, timeout=2,
                                   ssl_context=ssl.create_default_context())
    refused = untrusting.send(outbound(2, "OUT2"), "OUT2")
    assert refused.code == NO_ANSWER and not refused.accepted
    assert recipient.control_ids() == ["OUT0", "OUT1"]


def test_an_ack_past_patience_is_awaited_aside_while_the_next_message_goes_on_a_new_connection(
        recipients):
    # OUT0's AA comes after 1 s: past the 0.2 s patience, within the 3 s timeout. OUT1 answers
    # at once, on a second connection, and OUT0's AA still reaches on_late, credited to OUT0.
    recipient = recipients(lambda n, payload: Reply(delay=1.0) if n == 0 else Reply(code="AE"))
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=3, patience=0.2)
    late = []
    try:
        first = sender.send(outbound(0, "OUT0"), "OUT0", on_late=late.append)
        second = sender.send(outbound(1, "OUT1"), "OUT1", on_late=late.append)
        assert (first.code, second.code) == ("overdue", "AE") and late == []
    finally:
        sender.close()  # waits for the ACK awaited aside
    assert [(r.code, r.accepted) for r in late] == [("AA", True)]
    assert recipient.connections == 2


def test_a_refused_connection_is_told_apart_from_a_send_nobody_answered(recipients):
    recipient = recipients(lambda n, payload: Reply(silent=True))
    sender = DestinationSender("127.0.0.1", recipient.port, timeout=0.3)
    try:
        unanswered = sender.send(outbound(0, "OUT0"), "OUT0")
        recipient.stop()
        refused = sender.send(outbound(1, "OUT1"), "OUT1")
    finally:
        sender.close()
    assert (unanswered.code, unanswered.reached) == (NO_ANSWER, True)
    assert (refused.code, refused.reached) == (NO_ANSWER, False)

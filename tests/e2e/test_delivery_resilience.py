"""Issue 3's proof, outbound resilience: a recipient that is down gets every message once it is
back, in order, once each; a recipient that answers AR gets the message parked, not retried —
real `hub serve` processes, fake recipients on loopback, RabbitMQ with SQLite and PostgreSQL."""
from __future__ import annotations

from tests.fixtures.messages import patient
from tests.fixtures.registry import (  # noqa: F401 - scene is a fixture
    assert_readdressed, msh, oru, placer, refuse, scene, wait_for)

NOBODY = {"pending": 0, "delivered": 0, "denied": 0, "parked": 0}
QUIET = 1.0  # many rounds of the sender at the tests' schedule


def test_a_recipient_down_then_back_gets_every_message_in_order_once_each(scene):
    doctor = scene.doctor("370001-11")
    scene.start()
    person = patient(307)
    scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)
    doctor.recipient.stop()
    sent = [oru(person, f"ORD-{i}", doctor) for i in range(1, 6)]

    assert scene.send(*sent) == ["AA"] * 5
    assert scene.settled(5), scene.env.logs()
    # The head of the patient's queue is tried, and fails, again and again meanwhile.
    assert wait_for(lambda: (rows := scene.probe.deliveries()) and len(rows) == 5
                    and rows[0]["attempts"] >= 3), scene.probe.deliveries()
    assert scene.states() == ["pending"] * 5
    doctor.recipient.start()  # on the same port

    assert wait_for(lambda: scene.states() == ["delivered"] * 5, timeout=30), \
        scene.probe.deliveries()
    assert not wait_for(lambda: len(doctor.recipient.received) > 5, timeout=QUIET)
    received = doctor.recipient.received
    assert [placer(p) for p in received] == [f"PLORD-{i}" for i in range(1, 6)]
    assert len({msh(p)[9] for p in received}) == 5
    for original, payload in zip(sent, received):
        assert_readdressed(original, payload, doctor)
    assert scene.probe.deliveries()[0]["attempts"] > 3  # the retries, then the success
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "delivered": 5}
    assert final.events() == [
        (doctor.cns_code, "deliver", "ok", "AA")] * 5


def test_a_recipient_answering_ar_gets_the_message_parked_not_retried(scene):
    doctor = scene.doctor("380001-11", respond=refuse("AR"))
    scene.start()
    person = patient(308)
    scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)

    assert scene.send(oru(person, "AR-1", doctor)) == ["AA"]

    assert wait_for(lambda: scene.states() == ["parked"]), scene.probe.deliveries()
    assert not wait_for(lambda: len(doctor.recipient.received) > 1, timeout=QUIET)
    [payload] = doctor.recipient.received  # AR is final: one attempt, no retry
    assert placer(payload) == "PLAR-1"
    [row] = scene.probe.deliveries()
    assert (row["attempts"], row["ack_code"]) == (1, "AR")
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "parked": 1}
    [event] = final.events()
    assert event[:3] == (doctor.cns_code, "deliver", "failed")
    assert event[3].startswith("refused by recipient: AR")

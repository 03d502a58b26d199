"""Issue 3's proof, consent at send time: the patient's choices made while a delivery waits for a
recipient that is down (a revocation, a hidden or secret entry) turn it into a journaled
denial, and a closed dossier stores and routes nothing — real `hub serve` processes, fake
recipients on loopback, RabbitMQ with SQLite and PostgreSQL."""
from __future__ import annotations

from tests.fixtures.messages import patient
from tests.fixtures.registry import (  # noqa: F401 - scene is a fixture
    oru, placer, scene, wait_for)

NOBODY = {"pending": 0, "delivered": 0, "denied": 0, "parked": 0}
# A window for "and nothing more happens": many rounds of the sender at the tests' schedule.
QUIET = 1.0


def _retried(scene, times: int = 2) -> bool:
    """Whether the head delivery has failed `times` attempts already (its recipient is down)."""
    rows = scene.probe.deliveries()
    return bool(rows) and rows[0]["state"] == "pending" and rows[0]["attempts"] >= times


def test_a_revocation_while_a_delivery_waits_turns_it_into_a_denial(scene):
    doctor = scene.doctor("340001-11")
    scene.start()
    person = patient(304)
    scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)
    doctor.recipient.stop()
    assert scene.send(oru(person, "WAIT-1", doctor)) == ["AA"]
    assert wait_for(lambda: _retried(scene)), scene.probe.deliveries()

    scene.env.hub("consent", "revoke", person.matricule, doctor.cns_code)

    # The recipient comes back only once the denial is recorded: an attempt that passed its
    # consent check just before the revocation may rightly still be sent.
    assert wait_for(lambda: scene.states() == ["denied"]), scene.probe.deliveries()
    doctor.recipient.start()
    assert not wait_for(lambda: doctor.recipient.received, timeout=QUIET)
    assert doctor.recipient.connections == 0
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "denied": 1}
    assert final.events() == [
        (doctor.cns_code, "deny", "denied", "grant revoked")]


def test_an_entry_hidden_or_made_secret_while_waiting_is_never_delivered(scene):
    doctor = scene.doctor("350001-11")
    scene.start()
    person = patient(305)
    scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)
    doctor.recipient.stop()
    assert scene.send(*(oru(person, f"HID-{i}", doctor) for i in (1, 2, 3))) == ["AA"] * 3
    assert scene.settled(3), scene.env.logs()
    assert wait_for(lambda: len(scene.states()) == 3 and _retried(scene)), \
        scene.probe.deliveries()
    messages, dossier = scene.read(("messages",), ("dossier", "show", person.matricule))
    control_ids = {m["id"]: m["control_id"] for m in messages}
    entries: dict[str, list[str]] = {}
    for entry in dossier["entries"]:
        entries.setdefault(control_ids[entry["message_id"]], []).append(entry["id"])
    assert sorted(len(ids) for ids in entries.values()) == [2, 2, 2]

    # One entry of each of the first two messages; a message goes out whole or not at all.
    scene.hub(("dossier", "hide", person.matricule, entries["HID-1"][1]),
              ("dossier", "confidentiality", person.matricule, entries["HID-2"][0], "secret"))

    assert wait_for(lambda: scene.states() == ["denied", "denied", "pending"]), \
        scene.probe.deliveries()
    doctor.recipient.start()
    assert doctor.recipient.wait_for(1, timeout=20), scene.probe.deliveries()
    assert wait_for(lambda: scene.states() == ["denied", "denied", "delivered"])
    assert not wait_for(lambda: len(doctor.recipient.received) > 1, timeout=QUIET)
    assert [placer(p) for p in doctor.recipient.received] == ["PLHID-3"]
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "denied": 2, "delivered": 1}
    assert final.events() == [
        (doctor.cns_code, "deny", "denied", "entry hidden"),
        (doctor.cns_code, "deny", "denied", "entry secret"),
        (doctor.cns_code, "deliver", "ok", "AA"),
    ]


def test_a_closed_dossier_acknowledges_but_stores_and_routes_nothing(scene):
    doctor = scene.doctor("360001-11")
    scene.start()
    person = patient(306)
    scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)
    scene.env.hub("dossier", "close", person.matricule)

    assert scene.send(oru(person, "CLO-1", doctor)) == ["AA"]  # the sender did nothing wrong

    assert scene.settled(1), scene.env.logs()
    [message], dossier = scene.read(("messages",), ("dossier", "show", person.matricule))
    assert (message["control_id"], message["state"]) == ("CLO-1", "discarded")
    assert dossier["entries"] == []
    assert scene.probe.deliveries() == []
    assert not wait_for(lambda: doctor.recipient.received, timeout=QUIET)
    final = scene.final(person.matricule)
    assert final.deliveries == NOBODY
    messages = final.status["messages"]
    assert (messages["stored"], messages["discarded"]) == (0, 1)
    # The operator's full view of the (empty) dossier above is a read in the journal too.
    assert [e[:3] for e in final.journal] == [
        ("patient", "consent.grant", "ok"), ("patient", "dossier.close", "ok"),
        ("hub", "message.discarded", "ok"), ("operator", "dossier.read", "ok")]
    assert final.journal[-2][3] == "dossier closed by the patient"

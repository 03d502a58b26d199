"""Issue 3's proof, consent at routing time: real `hub serve` processes (RabbitMQ, SQLite and
PostgreSQL) deliver ORU^R01 results over MLLP to fake recipients on loopback — to the doctor the
patient granted, re-addressed, and to nobody else; a revocation or a blocked référent stops the
next one, and each denial is in the patient's journal with its reason."""
from __future__ import annotations

from tests.fixtures.messages import patient
from tests.fixtures.registry import (  # noqa: F401 - scene is a fixture
    ROUTING_WITH_COPIES, assert_readdressed, mdm_t02, oru, placer, scene, wait_for)

NOBODY = {"pending": 0, "delivered": 0, "denied": 0, "parked": 0}


def test_an_oru_reaches_the_granted_doctor_readdressed_and_never_an_ungranted_one(scene):
    granted, ungranted = scene.doctor("310001-11"), scene.doctor("310002-22")
    scene.start(routing=ROUTING_WITH_COPIES)
    person = patient(301)
    scene.env.hub("consent", "grant", person.matricule, granted.cns_code)
    # The ungranted doctor is a candidate twice: a result copy (OBR-28) of the granted doctor's
    # order, then the ordering provider of an order of their own.
    copied = oru(person, "DLV-1", granted, copies=(ungranted,))
    own_order = oru(person, "DLV-2", ungranted)

    assert scene.send(copied, own_order) == ["AA", "AA"]

    assert scene.settled(2), scene.env.logs()
    assert wait_for(lambda: scene.states() == ["delivered"]), scene.probe.deliveries()
    [delivered] = granted.recipient.received
    assert_readdressed(copied, delivered, granted)
    assert placer(delivered) == "PLDLV-1"
    assert ungranted.recipient.received == [] and ungranted.recipient.connections == 0
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "delivered": 1}
    assert sorted(final.events()) == sorted([
        (granted.cns_code, "deliver", "ok", "AA"),
        (ungranted.cns_code, "deny", "denied", "no grant in force"),
        (ungranted.cns_code, "deny", "denied", "no grant in force"),
    ])


def test_a_revocation_stops_the_next_delivery(scene):
    doctor = scene.doctor("320001-11")
    scene.start()
    person = patient(302)
    scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)
    before = oru(person, "REV-1", doctor)
    assert scene.send(before) == ["AA"]
    assert doctor.recipient.wait_for(1, timeout=20), scene.env.logs()

    scene.env.hub("consent", "revoke", person.matricule, doctor.cns_code)
    assert scene.send(oru(person, "REV-2", doctor)) == ["AA"]

    assert scene.settled(2), scene.env.logs()
    assert wait_for(lambda: scene.probe.audit("deny")), scene.env.logs()
    assert [placer(p) for p in doctor.recipient.received] == ["PLREV-1"]
    assert_readdressed(before, doctor.recipient.received[0], doctor)
    assert scene.states() == ["delivered"]  # the second was never queued
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "delivered": 1}
    assert final.events() == [
        (doctor.cns_code, "deliver", "ok", "AA"),
        (doctor.cns_code, "deny", "denied", "grant revoked"),
    ]


def test_the_declared_referent_receives_without_a_grant_until_the_patient_blocks_them(scene):
    referent = scene.doctor("330001-11")
    scene.start()
    person = patient(303)
    stranger = "339999-99^Unregistered^Doc"  # the ordering provider, not in the registry
    scene.env.hub("consent", "referent", person.matricule, referent.cns_code)
    before = oru(person, "REF-1", stranger)
    assert scene.send(before) == ["AA"]
    assert referent.recipient.wait_for(1, timeout=20), scene.env.logs()

    scene.env.hub("consent", "block-referent", person.matricule)
    assert scene.send(oru(person, "REF-2", stranger)) == ["AA"]

    assert scene.settled(2), scene.env.logs()
    assert wait_for(lambda: len(scene.probe.audit("deny")) == 3), scene.probe.audit("deny")
    assert [placer(p) for p in referent.recipient.received] == ["PLREF-1"]
    assert_readdressed(before, referent.recipient.received[0], referent)
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "delivered": 1}
    assert sorted(final.events()) == sorted([
        (referent.cns_code, "deliver", "ok", "AA"),
        (referent.cns_code, "deny", "denied", "référent blocked by patient"),
        ("339999-99", "deny", "denied", "recipient not registered"),
        ("339999-99", "deny", "denied", "recipient not registered"),
    ])


def test_a_document_reaches_the_referent_and_the_attending_doctor_unless_very_restricted(scene):
    referent, attending = scene.doctor("390001-11"), scene.doctor("390002-22")
    scene.start()
    person = patient(309)
    scene.hub(("consent", "referent", person.matricule, referent.cns_code),
              ("consent", "grant", person.matricule, attending.cns_code))
    note = mdm_t02(person, "MDM-1", attending)
    # TXA-18 V (very restricted) files restricted: neither has an extended grant.
    restricted = mdm_t02(person, "MDM-2", attending, confidentiality="V")

    assert scene.send(note, restricted) == ["AA", "AA"]

    assert scene.settled(2), scene.env.logs()
    assert wait_for(lambda: scene.states() == ["delivered", "delivered"]
                    and len(scene.probe.audit("deny")) == 2), scene.probe.deliveries()
    for doctor in (referent, attending):
        [payload] = doctor.recipient.received
        assert_readdressed(note, payload, doctor)
        assert placer(payload) == "DOCMDM-1"
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "delivered": 2}
    assert sorted(final.events()) == sorted([
        (referent.cns_code, "deliver", "ok", "AA"), (attending.cns_code, "deliver", "ok", "AA"),
        # The référent may read normal entries: the rule that refuses is the restricted one.
        (referent.cns_code, "deny", "denied", "restricted needs extended grant"),
        (attending.cns_code, "deny", "denied", "restricted needs extended grant"),
    ])

"""Routing in the worker, on real databases: stored messages become deliveries only for the
recipients the patient allowed; every other candidate is a denial in the patient's journal."""
from __future__ import annotations

import asyncio

from hub.domain.professional import ProfessionalStatus
from hub.hl7.message import Message
from hub.inbound.intake import Intake, IntakePolicy
from hub.metrics import Metrics
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.routing import (  # noqa: F401 - broker and worker are fixtures
    EARLIER, ORDERER, OTHER, REFERENT, TOPOLOGY, broker, dossier, make_worker, receive, register,
    worker)


def outcome(uow_factory, pid):
    with uow_factory() as uow:
        deliveries = uow.deliveries.search()
        journal = [(e.actor, e.action, str(e.outcome), e.reason) for e in uow.audit.journal(pid)]
        assert uow.audit.verify().ok
    return deliveries, journal


def test_the_granted_ordering_provider_gets_a_readdressed_copy(broker, worker, uow_factory):
    person = patient(21)
    register(uow_factory, ORDERER)
    pid = dossier(uow_factory, person, grant=ORDERER)
    sent = encoded(oru_r01(person, "R-1", n_obx=3))
    receive(broker, sent)
    worker.drain()

    deliveries, journal = outcome(uow_factory, pid)
    assert [(d.recipient, d.destination, d.state.value) for d in deliveries] == [
        (ORDERER, "127.0.0.1:7001", "pending")]
    with uow_factory() as uow:
        payload = uow.deliveries.payload(deliveries[0].id)
    out = Message.parse(payload.decode())
    assert (out.value("MSH-3"), out.value("MSH-4"), out.value("MSH-5"), out.value("MSH-6")) == (
        "DSP-HUB", "DSP", "APP1", "FAC1")
    assert out.control_id == deliveries[0].control_id != "R-1"
    assert payload.split(b"\r", 1)[1] == sent.split(b"\r", 1)[1]  # only MSH changed
    assert not [j for j in journal if j[1] == "deny"]


def test_without_a_grant_nothing_is_queued_and_the_denial_is_journaled(broker, worker, uow_factory):
    person = patient(22)
    register(uow_factory, ORDERER)
    pid = dossier(uow_factory, person)
    receive(broker, encoded(oru_r01(person, "R-2", n_obx=2)))
    worker.drain()

    deliveries, journal = outcome(uow_factory, pid)
    assert deliveries == []
    assert (ORDERER, "deny", "denied", "no grant in force") in journal


def test_each_patients_deliveries_queue_in_message_order_across_batches(broker, worker,
                                                                          uow_factory):
    register(uow_factory, ORDERER)
    first, second = patient(24), patient(25)
    pids = [dossier(uow_factory, person, grant=ORDERER) for person in (first, second)]
    receive(broker, *(encoded(oru_r01(person, f"Q-{n}", n_obx=1))
                      for n, person in enumerate([first, second, first, first, second])))
    worker.drain()
    receive(broker, encoded(oru_r01(first, "Q-5", n_obx=1)))
    worker.drain()

    with uow_factory() as uow:
        queues = {pid: [(d.sequence, uow.messages.get(d.message_id).control_id)
                        for d in sorted(uow.deliveries.search(), key=lambda d: d.sequence)
                        if d.patient_id == pid] for pid in pids}
    assert queues == {pids[0]: [(1, "Q-0"), (2, "Q-2"), (3, "Q-3"), (4, "Q-5")],
                      pids[1]: [(1, "Q-1"), (2, "Q-4")]}


def test_denials_are_journaled_in_message_order_within_a_batch(broker, worker, uow_factory):
    register(uow_factory, ORDERER)
    person = patient(26)
    pid = dossier(uow_factory, person)
    receive(broker, *(encoded(oru_r01(person, f"D-{n}", n_obx=1)) for n in range(3)))
    worker.drain()  # one batch, one transaction

    with uow_factory() as uow:
        denied = [uow.messages.get(e.message_id).control_id for e in uow.audit.journal(pid)
                  if e.action == "deny"]
        assert uow.audit.verify().ok
    assert denied == ["D-0", "D-1", "D-2"]


def test_an_unregistered_or_suspended_recipient_is_denied(broker, worker, uow_factory):
    person = patient(23)
    register(uow_factory, OTHER, status=ProfessionalStatus.SUSPENDED)
    pid = dossier(uow_factory, person, grant=OTHER)
    receive(broker, encoded(oru_r01(person, "R-3", n_obx=1)),
            encoded(oru_r01(person, "R-4", n_obx=1, orderer=f"{OTHER}^Klein^Paul")))
    worker.drain()

    deliveries, journal = outcome(uow_factory, pid)
    assert deliveries == []
    denials = {(actor, reason) for actor, action, _, reason in journal if action == "deny"}
    assert denials == {(ORDERER, "recipient not registered"), (OTHER, "recipient not active")}


def test_the_referent_receives_by_declaration_unless_blocked(broker, uow_factory):
    register(uow_factory, REFERENT)
    declared, blocked = patient(24), patient(25)
    pid_declared = dossier(uow_factory, declared, referent=REFERENT)
    pid_blocked = dossier(uow_factory, blocked, referent=REFERENT, blocked=True)
    worker = make_worker(broker, uow_factory)
    receive(broker, encoded(oru_r01(declared, "R-5", n_obx=1)),
            encoded(oru_r01(blocked, "R-6", n_obx=1)))
    worker.drain()

    deliveries, _ = outcome(uow_factory, pid_declared)
    assert [(d.recipient, d.patient_id) for d in deliveries] == [(REFERENT, pid_declared)]
    _, journal = outcome(uow_factory, pid_blocked)
    assert (REFERENT, "deny", "denied", "référent blocked by patient") in journal


def test_the_referent_switch_off_needs_a_grant(broker, uow_factory):
    register(uow_factory, REFERENT)
    person = patient(26)
    pid = dossier(uow_factory, person, referent=REFERENT)
    worker = make_worker(broker, uow_factory, referent_by_default=False)
    receive(broker, encoded(oru_r01(person, "R-7", n_obx=1)))
    worker.drain()

    deliveries, journal = outcome(uow_factory, pid)
    assert deliveries == [] and (REFERENT, "deny", "denied", "no grant in force") in journal


def test_a_closed_dossier_routes_nothing(broker, worker, uow_factory):
    person = patient(27)
    register(uow_factory, ORDERER)
    pid = dossier(uow_factory, person, grant=ORDERER, closed=True)
    receive(broker, encoded(oru_r01(person, "R-8", n_obx=1)))
    worker.drain()

    deliveries, journal = outcome(uow_factory, pid)
    assert deliveries == []
    assert [action for _, action, _, _ in journal] == ["message.discarded"]


def test_an_allowed_professional_without_destination_gets_nothing_pushed(broker, worker, uow_factory):
    person = patient(28)
    register(uow_factory, ORDERER, destination=False)
    pid = dossier(uow_factory, person, grant=ORDERER)
    receive(broker, encoded(oru_r01(person, "R-9", n_obx=1)))
    worker.drain()

    deliveries, journal = outcome(uow_factory, pid)
    assert deliveries == [] and [action for _, action, _, _ in journal] == ["entries.filed"]


def test_a_resend_is_not_routed_twice(broker, worker, uow_factory):
    person = patient(29)
    register(uow_factory, ORDERER)
    pid = dossier(uow_factory, person, grant=ORDERER)
    message = encoded(oru_r01(person, "R-10", n_obx=2))
    receive(broker, message, message)
    worker.drain()

    deliveries, _ = outcome(uow_factory, pid)
    assert len(deliveries) == 1


def test_an_id_that_is_not_a_cns_code_is_denied_naming_the_field(broker, worker, uow_factory):
    person = patient(30)
    pid = dossier(uow_factory, person)
    receive(broker, encoded(oru_r01(person, "R-11", n_obx=1, orderer="D4711^Local^Doc")))
    worker.drain()

    _, journal = outcome(uow_factory, pid)
    reasons = {reason for actor, action, _, reason in journal if action == "deny"}
    assert reasons == {"recipient id is not a CNS code (ORC-12)"}


def test_a_named_destination_and_result_copies_follow_the_routing_file(broker, uow_factory,
                                                                       tmp_path):
    routing = tmp_path / "routing.toml"
    routing.write_text(f'[destinations]\narchive = "{OTHER}"\n\n[[route]]\nmessage = "ORU^*"\n'
                       f'sender = "LABSYS^*"\nentry_kinds = ["lab_result"]\n'
                       f'to = ["destination:archive", "result_copies"]\n')
    for code in (OTHER, REFERENT):
        register(uow_factory, code)
    person = patient(31)
    pid = dossier(uow_factory, person, grant=OTHER)
    with uow_factory() as uow:
        uow.consents.grant(pid, REFERENT, "normal", None, EARLIER)
        uow.commit()
    copies = oru_r01(person, "R-12", n_obx=1).replace("|||F\r", f"|||F|||{REFERENT}^Copy^Ann\r", 1)
    assert f"{REFERENT}^Copy" in copies
    receive(broker, encoded(copies))
    make_worker(broker, uow_factory, routing).drain()

    deliveries, _ = outcome(uow_factory, pid)
    assert sorted(d.recipient for d in deliveries) == [REFERENT, OTHER]


MFN = ("MSH|^~\\&|HR|CHL|DSP|HUB|20250102120000||MFN^M02^MFN_M02|MF{n}|P|2.5\r"
       "MFI|STF^Staff master file^HL70175||UPD|||AL\r"
       "MFE|{event}|||{code}^^CNS\r"
       "STF|{code}|{code}^^^CNS^CNS|Weber^Anne|D||19700101|{flag}\r"
       "PRA|{code}||GP\r")


def receive_exempt(broker, frame: bytes) -> bytes:
    """Through the intake with MFN exempt from the matricule rule, as the shipped config has it."""
    async def run() -> bytes:
        policy = IntakePolicy(supported_versions=frozenset({"2.5"}),
                              identity_exempt=frozenset({"MFN"}), authorities=frozenset())
        intake = Intake(await broker.open_publisher(), TOPOLOGY.inbound, policy, Metrics())
        return await intake.handle(frame, "127.0.0.1:9")
    return asyncio.run(run())


def test_mfn_messages_change_the_registry(broker, worker, uow_factory):
    code = "423456-78"
    ack = receive_exempt(broker, MFN.format(n=1, event="MAD", code=code, flag="A").encode())
    assert b"MSA|AA|MF1" in ack
    worker.drain()
    with uow_factory() as uow:
        assert uow.professionals.get(code).status is ProfessionalStatus.ACTIVE
        assert [m.state.value for m in uow.messages.search()] == ["stored"]

    receive_exempt(broker, MFN.format(n=2, event="MUP", code=code, flag="I").encode())
    worker.drain()
    with uow_factory() as uow:
        assert uow.professionals.get(code).status is ProfessionalStatus.SUSPENDED


def test_a_registry_change_is_seen_by_the_next_message_of_the_same_batch(broker, worker,
                                                                          uow_factory):
    register(uow_factory, ORDERER, status=ProfessionalStatus.SUSPENDED)
    person = patient(32)
    pid = dossier(uow_factory, person, grant=ORDERER)
    receive(broker, encoded(oru_r01(person, "R-13", n_obx=1)))
    receive_exempt(broker, MFN.format(n=3, event="MUP", code=ORDERER, flag="A").encode())
    receive(broker, encoded(oru_r01(person, "R-14", n_obx=1)))
    worker.drain()  # all three in one batch, one transaction

    deliveries, journal = outcome(uow_factory, pid)
    with uow_factory() as uow:
        sent_for = [uow.messages.get(d.message_id).control_id for d in deliveries]
    assert sent_for == ["R-14"]
    assert [j[3] for j in journal if j[1] == "deny"] == ["recipient not active"]

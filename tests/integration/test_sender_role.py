"""The sender as bootstrap wires it, on real SQLite and PostgreSQL, to fake MLLP recipients over
loopback: consent re-checked at send time, TLS where the registry asks for it, and every
delivery, denial and parking in the patient's access journal."""
import ssl
from datetime import UTC, datetime, timedelta

import pytest

from hub.bootstrap import Hub
from hub.domain.audit import AuditEvent
from hub.domain.delivery import DeliveryState, destination_key
from hub.domain.professional import Destination, Professional
from hub.settings import load_settings
from tests.fixtures.certs import make_pki
from tests.fixtures.deliveries import queue, store_message
from tests.fixtures.fake_recipient import Reply, recipients_started
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import patient

DOCTOR = "123456-78"


@pytest.fixture
def recipients():
    with recipients_started() as start:
        yield start


@pytest.fixture
def hub_env(tmp_path, database_url):
    """Settings shared by the in-test hub and the `hub` commands run beside it."""
    return HubEnv(tmp_path, database_url, broker_url="memory://")


@pytest.fixture
def hubs(hub_env):
    """Make a Hub on the test's database and key file, with outbound settings overridden."""
    made = []

    def make(**outbound) -> Hub:
        settings = load_settings(database_url=hub_env.env["HUB_DATABASE_URL"],
                                 key_file=hub_env.env["HUB_KEY_FILE"],
                                 namespace=hub_env.namespace, broker_url="memory://",
                                 outbound={"timeout": 2.0, **outbound})
        hub = Hub(settings)
        hub.upgrade_database()
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.close()


def now():
    return datetime.now(UTC)


def register(hub, port, *, tls=False, cns_code=DOCTOR):
    with hub.unit_of_work() as uow:
        uow.professionals.upsert(Professional(
            cns_code, "Muller", "Jean", "general practice",
            destination=Destination("127.0.0.1", port, "CAB", "DOC", tls=tls)))
        uow.commit()


def queue_granted(hub, port, n=1, *, cns_code=DOCTOR):
    """One stored message of patient n, granted to `cns_code`, queued for 127.0.0.1:port."""
    at = now() - timedelta(seconds=5)
    with hub.unit_of_work() as uow:
        message_id, patient_id, raw = store_message(uow, n, at=at)
        uow.consents.grant(patient_id, cns_code, "normal", None, at)
        delivery = queue(uow, message_id, patient_id, raw, destination_key("127.0.0.1", port),
                         recipient=cns_code, at=at)
        uow.commit()
    return delivery


def run_once(hub):
    dispatcher = hub.dispatcher()
    try:
        return dispatcher.run_due(now(), wait=10)
    finally:
        dispatcher.close()


def state_and_journal(hub, delivery) -> tuple[DeliveryState, list[AuditEvent]]:
    with hub.unit_of_work() as uow:
        return (uow.deliveries.get(delivery.id).state,
                [e for e in uow.audit.journal(delivery.patient_id)
                 if e.action in ("deliver", "deny")])


def test_a_delivery_goes_out_and_is_journaled_in_the_same_chain(hubs, hub_env, recipients):
    hub = hubs()
    recipient = recipients()
    register(hub, recipient.port)
    delivery = queue_granted(hub, recipient.port)

    report = run_once(hub)

    assert report.delivered == 1
    assert recipient.control_ids() == [delivery.control_id]
    state, events = state_and_journal(hub, delivery)
    assert state is DeliveryState.DELIVERED
    [event] = events
    assert (event.actor, event.action, str(event.outcome), event.reason) == (
        DOCTOR, "deliver", "ok", "AA")
    assert (event.patient_id, event.message_id) == (delivery.patient_id, delivery.message_id)
    assert hub_env.hub("audit", "verify").returncode == 0
    journal = hub_env.hub_json("journal", patient(1).matricule)
    assert [(j["actor"], j["action"], j["outcome"]) for j in journal
            if j["action"] == "deliver"] == [(DOCTOR, "deliver", "ok")]


def test_a_grant_revoked_while_waiting_denies_at_send_time(hubs, hub_env, recipients):
    hub = hubs()
    recipient = recipients()
    register(hub, recipient.port)
    delivery = queue_granted(hub, recipient.port)
    with hub.unit_of_work() as uow:
        uow.consents.revoke(delivery.patient_id, DOCTOR, now() - timedelta(seconds=1))
        uow.commit()

    report = run_once(hub)

    assert report.denied == 1 and recipient.received == []
    state, events = state_and_journal(hub, delivery)
    assert state is DeliveryState.DENIED
    [event] = events
    assert (event.actor, event.action, str(event.outcome), event.reason) == (
        DOCTOR, "deny", "denied", "grant revoked")
    assert hub_env.hub("audit", "verify").returncode == 0


def test_a_refusal_parks_and_journals_the_code_only(hubs, recipients):
    hub = hubs()
    recipient = recipients(lambda n, payload: Reply(code="AR"))
    register(hub, recipient.port)
    delivery = queue_granted(hub, recipient.port)

    report = run_once(hub)

    assert report.parked == 1
    state, [event] = state_and_journal(hub, delivery)
    assert state is DeliveryState.PARKED
    assert (event.action, str(event.outcome), event.reason) == (
        "deliver", "failed", "refused by recipient: AR (ERR-3 207)")


def test_running_out_of_attempts_parks_with_our_words(hubs, recipients):
    # An application error counts toward max_attempts (nobody listening does not: that is the
    # destination's fault, tests/integration/test_delivery_order.py).
    hub = hubs(max_attempts=1)
    recipient = recipients(lambda n, payload: Reply(code="AE"))
    register(hub, recipient.port)
    delivery = queue_granted(hub, recipient.port)

    report = run_once(hub)

    assert report.parked == 1
    _, [event] = state_and_journal(hub, delivery)
    assert (event.action, str(event.outcome), event.reason) == (
        "deliver", "failed", "gave up after 1 attempts: last AE")


def tls_recipient(recipients, pki, *, require_client_cert):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return recipients(ssl_context=context)


def test_a_tls_destination_is_sent_to_over_tls_with_the_hubs_certificate(
        hubs, recipients, tmp_path):
    pki = make_pki(tmp_path)
    recipient = tls_recipient(recipients, pki, require_client_cert=True)
    hub = hubs(tls_ca_file=str(pki.ca), tls_cert_file=str(pki.client_cert),
               tls_key_file=str(pki.client_key))
    register(hub, recipient.port, tls=True)
    delivery = queue_granted(hub, recipient.port)

    report = run_once(hub)

    assert report.delivered == 1
    assert recipient.control_ids() == [delivery.control_id]


@pytest.mark.parametrize("case", ["unknown CA", "no client certificate", "registry says clear"])
def test_tls_is_never_skipped_nor_unverified(hubs, recipients, tmp_path, case):
    pki = make_pki(tmp_path)
    recipient = tls_recipient(recipients, pki, require_client_cert=True)
    settings = {"tls_ca_file": str(pki.ca), "tls_cert_file": str(pki.client_cert),
                "tls_key_file": str(pki.client_key)}
    if case == "unknown CA":
        settings["tls_ca_file"] = ""  # the system's CAs do not know the test CA
    elif case == "no client certificate":
        settings.update(tls_cert_file="", tls_key_file="")
    hub = hubs(**settings)
    register(hub, recipient.port, tls=case != "registry says clear")
    delivery = queue_granted(hub, recipient.port)

    report = run_once(hub)

    assert report.delivered == 0 and report.retried == 1
    state, events = state_and_journal(hub, delivery)
    assert state is DeliveryState.PENDING and events == []  # a retry is not journaled yet
    assert recipient.received == []

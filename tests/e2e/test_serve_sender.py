"""`hub serve --role sender` (and the sender inside `--role all`) as real processes: a queued
delivery reaches a fake recipient over loopback, and SIGTERM stops the process cleanly."""
import signal
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from hub.bootstrap import Hub
from hub.domain.delivery import DeliveryState, destination_key
from hub.domain.professional import Destination, Professional
from hub.settings import load_settings
from tests.fixtures.deliveries import queue, store_message
from tests.fixtures.fake_recipient import recipients_started
from tests.fixtures.hub_process import HubEnv

DOCTOR = "123456-78"


@pytest.fixture
def recipient():
    with recipients_started() as start:
        yield start()


def store_of(env: HubEnv) -> Hub:
    """A Hub on the same database and key file as `env`'s processes, for the test's own use."""
    hub = Hub(load_settings(database_url=env.env["HUB_DATABASE_URL"],
                            key_file=env.env["HUB_KEY_FILE"], broker_url="memory://"))
    hub.upgrade_database()
    return hub


def queue_for(hub: Hub, port: int, n: int = 1):
    """A registered doctor at 127.0.0.1:port, granted by patient n, and one delivery queued."""
    at = datetime.now(UTC) - timedelta(seconds=5)
    with hub.unit_of_work() as uow:
        uow.professionals.upsert(Professional(
            DOCTOR, "Muller", "Jean", "general practice",
            destination=Destination("127.0.0.1", port, "CAB", "DOC")))
        message_id, patient_id, raw = store_message(uow, n, at=at)
        uow.consents.grant(patient_id, DOCTOR, "normal", None, at)
        delivery = queue(uow, message_id, patient_id, raw, destination_key("127.0.0.1", port),
                         recipient=DOCTOR, at=at)
        uow.commit()
    return delivery


def delivered(hub: Hub, delivery) -> bool:
    with hub.unit_of_work() as uow:
        return uow.deliveries.get(delivery.id).state is DeliveryState.DELIVERED


def metrics(env: HubEnv) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{env.http_port}/metrics", timeout=5) as r:
        return r.read().decode()


def deliver_then_stop(env: HubEnv, recipient, role: str) -> str:
    hub = store_of(env)
    try:
        delivery = queue_for(hub, recipient.port)
        process = env.start(role=role, wait=role == "all", HUB_OUTBOUND__INTERVAL="0.2")
        assert env.wait_until(lambda: delivered(hub, delivery), timeout=30), env.logs()
        assert recipient.control_ids() == [delivery.control_id]
        with hub.unit_of_work() as uow:
            assert [e.action for e in uow.audit.journal(delivery.patient_id)
                    if e.action == "deliver"] == ["deliver"]
        counted = (f'hub_deliveries_total{{destination="{delivery.destination}",'
                   f'outcome="delivered"}} 1.0')
        assert env.wait_until(lambda: counted in metrics(env), timeout=10), metrics(env)
    finally:
        hub.close()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, env.logs()
    return env.logs()


def test_the_sender_role_delivers_and_stops_cleanly_on_sigterm(hub_env, recipient):
    logs = deliver_then_stop(hub_env, recipient, "sender")
    assert "outbound sender stopped" in logs and "hub stopped" in logs
    assert "routing worker" not in logs and "MLLP" not in logs  # the sender role alone
    assert "Traceback" not in logs


def test_the_sender_role_needs_no_broker(memory_env, recipient):
    logs = deliver_then_stop(memory_env, recipient, "sender")
    assert "hub stopped" in logs and "Traceback" not in logs


def test_role_all_runs_the_sender_beside_listener_and_workers(hub_env, recipient):
    logs = deliver_then_stop(hub_env, recipient, "all")
    assert "outbound sender started" in logs and "routing worker" in logs
    assert "Traceback" not in logs


def test_an_unreadable_outbound_ca_file_stops_the_sender_naming_it(memory_env, tmp_path):
    memory_env.env["HUB_OUTBOUND__TLS_CA_FILE"] = str(tmp_path / "missing-ca.pem")
    result = memory_env.hub("serve", "--role", "sender", check=False)
    assert result.returncode == 2
    assert "outbound.tls_ca_file" in result.stderr and "missing-ca.pem" in result.stderr
    assert "Traceback" not in result.stderr

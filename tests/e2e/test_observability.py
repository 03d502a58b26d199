"""Issue 5, as an integration engineer runs it: a real `hub serve` (RabbitMQ, SQLite and
PostgreSQL) that processed a known set of messages shows exactly that on /metrics, says on
/health/ready which check fails when the broker goes away, and writes JSON log lines that carry
the ids of each step and no patient data."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.hub_process import DEFAULT_AMQP_URL
from tests.fixtures.messages import patient
from tests.fixtures.registry import oru, scene, wait_for  # noqa: F401 - scene is a fixture
from tests.fixtures.tcp_proxy import TcpProxy

SENDER, TYPE = "LABSYS^CHL", "ORU^R01"


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(port: int) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    status, text = get(port, "/metrics")
    assert status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: dict, name: str, **labels: str) -> float | None:
    return metrics.get((name, frozenset(labels.items())))


def test_metrics_and_logs_tell_exactly_what_happened(scene):
    granted, stranger = scene.doctor("350001-11"), scene.doctor("350002-22")
    scene.env.env["HUB_LOG__JSON_LINES"] = "true"
    scene.env.env["HUB_LOG__LIFECYCLE"] = "DEBUG"  # the listener's received lines too
    scene.start()
    person = patient(357)  # Gréitchen Thill-357: names no log line could hold by chance
    scene.env.hub("consent", "grant", person.matricule, granted.cns_code)
    first = oru(person, "OBS-1", granted)
    no_matricule = oru(person, "OBS-4", granted).replace(
        person.matricule.encode() + b"^^^CNS^NN~", b"")
    conflict = first.replace(b"Lipid panel", b"Lipid panel, again")
    assert person.family_name.encode() in no_matricule and person.matricule.encode() in first

    codes = scene.send(first, oru(person, "OBS-2", granted), oru(person, "OBS-3", stranger),
                       no_matricule)
    assert codes == ["AA", "AA", "AA", "AE"]
    assert scene.settled(4), scene.env.logs()
    assert scene.send(conflict) == ["AA"]  # same MSH-10 as OBS-1, other bytes: parked
    assert scene.settled(5), scene.env.logs()
    assert wait_for(lambda: scene.states() == ["delivered", "delivered"]), scene.probe.deliveries()
    assert scene.probe.message_states() == {"stored": 3, "rejected": 1, "parked": 1}

    destination = f"127.0.0.1:{granted.recipient.port}"

    def counted(m: dict) -> bool:
        # A worker or lane counts just after the commit the probe reads: let that moment pass.
        return (value(m, "hub_deliveries_total", destination=destination, outcome="delivered")
                == 2 and sum(value(m, "hub_messages_processed_total", state=state) or 0
                             for state in ("stored", "parked", "rejected", "discarded")) == 5)

    m = wait_for(lambda: (lambda m: m if counted(m) else None)(samples(scene.env.http_port)), 10)
    m = m or samples(scene.env.http_port)  # the exact assertions below then say what differs
    assert value(m, "hub_messages_received_total", sender=SENDER, type=TYPE, ack_code="AA") == 4
    assert value(m, "hub_messages_received_total", sender=SENDER, type=TYPE, ack_code="AE") == 1
    for state, count in (("stored", 3), ("parked", 1), ("rejected", 1)):
        assert value(m, "hub_messages_processed_total", state=state) == count
        assert value(m, "hub_message_processing_seconds_count", state=state) == count
    assert value(m, "hub_messages_processed_total", state="discarded") is None
    assert value(m, "hub_messages_parked_total", reason="conflict") == 1
    assert value(m, "hub_routing_decisions_total", outcome="queued") == 2
    assert value(m, "hub_routing_decisions_total", outcome="denied") == 1
    assert value(m, "hub_consent_denials_total", stage="routing", reason="no grant in force") == 1
    assert value(m, "hub_deliveries_total", destination=destination, outcome="delivered") == 2
    assert value(m, "hub_delivery_seconds_count") == 2
    assert 0 < value(m, "hub_delivery_seconds_sum") < 60
    assert value(m, "hub_broker_up") == 1 and value(m, "hub_database_up") == 1
    assert value(m, "hub_mappings_loaded") == 1
    inbound = f"{scene.env.namespace}.inbound"
    assert value(m, "hub_queue_depth", queue=inbound) == 0
    assert value(m, "hub_queue_consumers", queue=inbound) >= 1
    labels = {v for (_, ls) in m for _, v in ls}
    assert not {person.matricule, person.family_name, person.given_name} & labels

    status, body = get(scene.env.http_port, "/health/ready")
    assert status == 200 and json.loads(body) == {
        "status": "ready", "checks": {"database": "ok", "broker": "ok", "mappings": "ok"},
        "failed": []}

    logs = scene.env.logs()
    for secret in (person.matricule, person.family_name, person.given_name):
        assert secret not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.strip()]
    steps = [line for line in lines if line["logger"] == "hub.lifecycle"]

    def step(name: str, **fields) -> list[dict]:
        return [s for s in steps if s["step"] == name
                and all(s.get(k) == v for k, v in fields.items())]

    received, resent = step("received", control_id="OBS-1", ack_code="AA")  # in order
    assert received["sender"] == SENDER and received["type"].startswith(TYPE)
    assert received["message"] == "message received" and received["level"] == "debug"
    [refused] = step("received", control_id="OBS-4", ack_code="AE")
    assert "PID-3" in refused["reason"]
    [stored] = step("stored", message_id=received["message_id"])
    assert stored["control_id"] == "OBS-1" and stored["state"] == "stored"
    assert stored["level"] == "info" and stored["sender"] == SENDER and stored["ack_code"] == "AA"
    assert step("rejected", message_id=refused["message_id"])
    [parked] = step("parked", control_id="OBS-1")
    assert parked["message_id"] == resent["message_id"] and parked["reason"].startswith("conflict")
    [routed] = step("routed", message_id=received["message_id"])
    assert routed["outcome"] == "queued" and routed["recipient"] == granted.cns_code
    assert routed["destination"] == destination and routed["delivery_id"]
    [denied] = step("routed", outcome="denied")
    assert denied["recipient"] == stranger.cns_code and denied["reason"] == "no grant in force"
    [delivered] = step("delivered", delivery_id=routed["delivery_id"])
    assert delivered["message_id"] == received["message_id"] and delivered["ack_code"] == "AA"
    assert delivered["destination"] == destination
    assert len(step("delivered")) == 2


def test_ready_names_the_broker_when_it_goes_away_and_recovers(hub_env):
    url = urlsplit(os.environ.get("HUB_TEST_AMQP_URL", DEFAULT_AMQP_URL))
    proxy = TcpProxy(url.hostname, url.port or 5672)
    proxy.restore()
    hub_env.env["HUB_BROKER_URL"] = url._replace(netloc=f"{url.username}:{url.password}"
                                                 f"@127.0.0.1:{proxy.port}").geturl()
    try:
        hub_env.start()
        port = hub_env.http_port
        assert hub_env.wait_until(lambda: get(port, "/health/ready")[0] == 200, 30), hub_env.logs()

        proxy.cut()
        answer = hub_env.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
            get(port, "/health/ready")), 15)
        assert answer, hub_env.logs()
        body = json.loads(answer[1])
        assert body["status"] == "not ready" and body["failed"] == ["broker"]
        assert body["checks"]["broker"].startswith("failed") and body["checks"]["database"] == "ok"
        assert get(port, "/health/live") == (200, '{"status": "live"}\n')
        m = samples(port)
        assert value(m, "hub_broker_up") == 0 and value(m, "hub_database_up") == 1
        assert not [key for key in m if key[0] == "hub_queue_depth"]  # no stale depths

        proxy.restore()
        assert hub_env.wait_until(lambda: get(port, "/health/ready")[0] == 200, 15), hub_env.logs()
        assert value(samples(port), "hub_broker_up") == 1
    finally:
        hub_env.stop_all()
        proxy.cut()

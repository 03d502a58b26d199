"""`hub status`, the operator's first question, against a real `hub serve` (RabbitMQ, SQLite and
PostgreSQL) that processed a known set of messages: a stored one delivered, one stored and sent
to three doctors (one ACKs, one answers AR, one is down), a reused control id (parked) and a
frame that is not HL7 (rejected). Every number must be what happened, the health line must
name what is wrong, and a broker that is down must give the database's numbers, a clear line
and exit 3 - never a traceback."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.hub_process import REPO, free_port
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.registry import (  # noqa: F401 - scene is a fixture
    ROUTING_WITH_COPIES, oru, refuse, scene, wait_for)

NOBODY = {"pending": 0, "delivered": 0, "denied": 0, "parked": 0}


def status(env, *args: str, **settings: str) -> subprocess.CompletedProcess:
    """`hub status ARGS` with this hub's settings and `settings` (HUB_* names) on top."""
    return subprocess.run([sys.executable, "-m", "hub.cli.main", "status", *args],
                          env={**env.env, **settings}, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_status_counts_what_happened_and_names_what_is_wrong(scene):
    acks, refuses, down = (scene.doctor("391001-11"), scene.doctor("391002-22", respond=refuse()),
                           scene.doctor("391003-33"))
    scene.start(routing=ROUTING_WITH_COPIES)
    person = patient(391)
    for doctor in (acks, refuses, down):
        scene.env.hub("consent", "grant", person.matricule, doctor.cns_code)
    down.recipient.stop()
    sent = [oru(person, "ST-1", acks, copies=(refuses, down)), oru(person, "ST-2", acks),
            oru(person, "ST-2", acks, n_obx=3), b"this is not HL7"]

    assert scene.send(*sent) == ["AA", "AA", "AA", "AR"]
    assert scene.settled(4), scene.env.logs()
    settled = Counter({(acks.cns_code, "delivered"): 2, (refuses.cns_code, "parked"): 1,
                       (down.cns_code, "pending"): 1})
    assert wait_for(lambda: (rows := scene.probe.deliveries())
                    and Counter((r["recipient"], r["state"]) for r in rows) == settled
                    and all(r["attempts"] >= 1 for r in rows)), scene.probe.deliveries()

    result = status(scene.env, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["messages"] == {"received": 4, "waiting": 0, "replays": 0, "stored": 2, "rejected": 1,
                               "parked": 1, "discarded": 0}
    assert doc["deliveries"] == {**NOBODY, "pending": 1, "delivered": 2, "parked": 1}
    ok_at, ar_at, down_at = (f"127.0.0.1:{d.recipient.port}" for d in (acks, refuses, down))
    assert doc["deliveries_by_destination"] == {
        ok_at: {**NOBODY, "delivered": 2}, ar_at: {**NOBODY, "parked": 1},
        down_at: {**NOBODY, "pending": 1}}
    inbound, dead = f"{scene.env.namespace}.inbound", f"{scene.env.namespace}.dead"
    assert {n: (q["depth"], q["consumers"]) for n, q in doc["queues"].items()} == {
        inbound: (0, 1), dead: (0, 1)}
    # Everything happened within the last five minutes: four received and filed, two delivered.
    assert doc["rates"]["received_per_s"]["5m"] == doc["rates"]["filed_per_s"]["5m"] == 0.013
    assert doc["rates"]["delivered_per_s"]["5m"] == 0.007
    assert doc["queues"][inbound]["in_per_s"] == doc["rates"]["received_per_s"]
    assert doc["destinations"][ok_at]["delivered_per_s"]["5m"] == 0.007
    assert doc["destinations"][ar_at]["delivered_per_s"] == {"1m": 0.0, "5m": 0.0}
    pending = doc["oldest_unacknowledged"]["pending_delivery"]
    assert pending["destination"] == down_at and 0 < pending["age_s"] < 300
    assert doc["destinations"][down_at]["oldest_pending_age_s"] == pending["age_s"]
    assert doc["destinations"][ok_at]["oldest_pending_age_s"] is None
    assert doc["oldest_unacknowledged"]["inbound_waiting"] == 0
    assert doc["oldest_unacknowledged"]["last_filed_lag_s"] >= 0
    assert doc["resumes"] == {"overdue": 0, "due": 0} and doc["stalled_queues"] == {}
    assert doc["broker"] == {"reachable": True, "error": None} and "broker_error" not in doc
    assert doc["health"]["summary"] == (
        f"unhealthy: 1 message parked; 1 delivery parked for {ar_at}")

    # The thresholds are settings: parked ones tolerated, a pending wait of a millisecond not.
    lenient = json.loads(status(scene.env, "--json", HUB_STATUS__MAX_PARKED_MESSAGES="1",
                                HUB_STATUS__MAX_PARKED_DELIVERIES="1",
                                HUB_STATUS__MAX_PENDING_AGE="0.001").stdout)
    [problem] = lenient["health"]["problems"]
    assert problem.startswith(f"oldest pending delivery for {down_at} waiting ")

    human = status(scene.env)
    assert human.returncode == 0
    assert human.stdout.splitlines()[0] == doc["health"]["summary"]
    assert down_at in human.stdout and inbound in human.stdout

    # The broker goes away: the database's numbers, a clear line on stderr, exit 3.
    gone = {"HUB_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    down_json = status(scene.env, "--json", **gone)
    assert down_json.returncode == 3
    assert down_json.stderr.startswith("hub: broker unreachable (")
    assert len(down_json.stderr.splitlines()) == 1 and "Traceback" not in down_json.stderr
    blind = json.loads(down_json.stdout)
    assert blind["messages"] == {**doc["messages"]}
    assert blind["deliveries_by_destination"] == doc["deliveries_by_destination"]
    assert blind["queues"] == {} and blind["broker"]["reachable"] is False
    assert blind["broker_error"] == blind["broker"]["error"]
    assert blind["health"]["summary"] == (
        f"unhealthy: broker unreachable; 1 message parked; 1 delivery parked for {ar_at}")
    down_human = status(scene.env, **gone)
    assert down_human.returncode == 3 and "Traceback" not in down_human.stderr
    assert down_human.stdout.startswith("unhealthy: broker unreachable")


def test_a_queue_nobody_consumes_is_named(hub_env):
    hub_env.start(role="listener")
    inbound = f"{hub_env.namespace}.inbound"
    # No worker anywhere: unhealthy before anything arrives, not only once messages pile up.
    assert hub_env.hub_json("status")["health"]["summary"] == \
        f"unhealthy: no worker consumes queue {inbound}"
    people = [patient(n) for n in (392, 393, 394)]
    acks = send_with_python_hl7(hub_env.mllp_port, [
        encoded(oru_r01(p, f"NC-{i}", n_obx=1)) for i, p in enumerate(people)])
    assert [a.code for a in acks] == ["AA"] * 3

    doc = hub_env.hub_json("status")
    assert (doc["queues"][inbound]["depth"], doc["queues"][inbound]["consumers"]) == (3, 0)
    assert (doc["messages"]["received"], doc["messages"]["waiting"]) == (3, 3)
    assert doc["oldest_unacknowledged"]["inbound_waiting"] == 3
    assert doc["health"]["summary"] == f"unhealthy: queue {inbound} has 3 messages and no consumer"

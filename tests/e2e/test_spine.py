"""MLLP in over loopback → durable ACK through RabbitMQ → mapped, encrypted entries in the store,
on SQLite and on PostgreSQL, with the counts the guarantees promise."""
from __future__ import annotations

import subprocess

import pika

from hub.broker.topology import Topology
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.messages import adt_a01, encoded, oru_r01, patient

N_OBX = 3


def _stored(env, state: str = "stored") -> int:
    return env.hub_json("status")["messages"][state]


def test_every_message_is_acked_then_stored_exactly_once(hub_env):
    hub_env.start()
    people = [patient(n) for n in range(5)]
    sent = [encoded(oru_r01(people[i % 5], f"ORU-{i}", n_obx=N_OBX)) for i in range(20)]
    sent += [encoded(adt_a01(people[i % 5], f"ADT-{i}")) for i in range(10)]

    acks = send_with_python_hl7(hub_env.mllp_port, sent)

    assert [a.code for a in acks] == ["AA"] * 30
    assert [a.control_id for a in acks] == [f"ORU-{i}" for i in range(20)] + [f"ADT-{i}" for i in range(10)]
    assert hub_env.wait_until(lambda: _stored(hub_env) == 30), hub_env.logs()
    status = hub_env.hub_json("status")
    assert status["messages"]["received"] == 30
    assert status["messages"]["parked"] == status["messages"]["rejected"] == 0
    dossier = hub_env.hub_json("dossier", "show", people[0].matricule)
    assert dossier["patient"]["family_name"] == people[0].family_name
    assert dossier["patient"]["given_name"] == people[0].given_name
    kinds = [e["kind"] for e in dossier["entries"]]
    assert kinds.count("lab_result") == 4 * N_OBX  # ORU-0, 5, 10, 15
    assert kinds.count("encounter") == 2           # ADT-0, 5


def test_a_resend_stores_nothing_new_and_a_reused_control_id_is_parked(hub_env):
    hub_env.start()
    person = patient(7)
    first = encoded(oru_r01(person, "RESEND-1", n_obx=N_OBX))
    other = encoded(oru_r01(person, "RESEND-1", n_obx=N_OBX + 1))

    acks = send_with_python_hl7(hub_env.mllp_port, [first, first, first, other])

    assert [a.code for a in acks] == ["AA"] * 4
    assert hub_env.wait_until(lambda: sum(hub_env.hub_json("status")["messages"][s]
                                          for s in ("stored", "discarded", "parked")) == 4)
    counts = hub_env.hub_json("status")["messages"]
    assert (counts["stored"], counts["discarded"], counts["parked"]) == (1, 2, 1)
    dossier = hub_env.hub_json("dossier", "show", person.matricule)
    assert len(dossier["entries"]) == N_OBX
    found = hub_env.hub_json("messages", "--control-id", "RESEND-1")
    assert sorted(m["state"] for m in found) == ["discarded", "discarded", "parked", "stored"]
    parked = [m for m in found if m["state"] == "parked"][0]
    assert parked["reason"].startswith("conflict")


def test_rejected_frames_are_answered_kept_and_the_connection_stays_open(hub_env):
    hub_env.start()
    person = patient(11)
    no_matricule = oru_r01(person, "NOID-1").replace(f"{person.matricule}^^^CNS^NN~", "")
    bad_matricule = oru_r01(person, "BADID-1").replace(person.matricule, person.matricule[:-1] + "0")
    frames = [b"this is not HL7", encoded(no_matricule), encoded(bad_matricule),
              encoded(oru_r01(person, "GOOD-1"))]

    acks = send_with_python_hl7(hub_env.mllp_port, frames)

    assert (acks[0].code, acks[0].control_id) == ("AR", "")
    assert (acks[1].code, acks[1].err_code, acks[1].err_location) == ("AE", "101", "PID^1^3")
    assert (acks[2].code, acks[2].err_code, acks[2].err_location) == ("AE", "102", "PID^1^3")
    assert (acks[3].code, acks[3].control_id) == ("AA", "GOOD-1")
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["rejected"] == 3)
    rejected = hub_env.hub_json("messages", "--state", "rejected")
    assert sorted(m["control_id"] for m in rejected) == ["", "BADID-1", "NOID-1"]
    assert all(m["reason"] for m in rejected)


def test_a_broker_that_refuses_the_publish_gets_ae_207_not_aa(hub_env):
    hub_env.start()
    url = hub_env.env["HUB_BROKER_URL"]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    for queue in Topology(hub_env.namespace).inbound_queues:  # every partition
        connection.channel().queue_delete(queue)
    connection.close()

    [ack] = send_with_python_hl7(hub_env.mllp_port, [encoded(oru_r01(patient(1), "LOST-1"))])

    assert (ack.code, ack.control_id, ack.err_code) == ("AE", "LOST-1", "207")


def test_hub_send_prints_one_line_per_ack(hub_env):
    hub_env.start()
    result = hub_env.hub("send", "tests/fixtures/samples/oru_r01.hl7", "tests/fixtures/samples/adt_a01.hl7",
                         "--port", str(hub_env.mllp_port))
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[1:3] for line in lines] == [["SAMPLE-ORU-1", "AA"], ["SAMPLE-ADT-1", "AA"]]


def test_hub_send_exits_non_zero_when_a_message_is_rejected(hub_env, tmp_path):
    hub_env.start()
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|X1|P|9.9\rPID|1\r")
    result = hub_env.hub("send", str(bad), "--port", str(hub_env.mllp_port), check=False)
    assert result.returncode == 1
    assert "\tX1\tAR\t" in result.stdout


def test_hub_send_names_a_missing_file_before_sending_anything(hub_env, tmp_path):
    hub_env.start()
    missing = tmp_path / "missing.hl7"
    result = hub_env.hub("send", "tests/fixtures/samples/oru_r01.hl7", str(missing),
                         "--port", str(hub_env.mllp_port), check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"hub: cannot read {missing}: No such file or directory\n"
    assert hub_env.hub_json("status")["messages"]["received"] == 0


def test_memory_broker_runs_the_whole_hub_in_one_process(tmp_path):
    from tests.fixtures.hub_process import HubEnv

    env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker_url="memory://")
    try:
        env.start()
        [ack] = send_with_python_hl7(env.mllp_port, [encoded(oru_r01(patient(2), "MEM-1"))])
        assert ack.code == "AA"
        assert env.wait_until(lambda: env.hub_json("messages", "--state", "stored"))
        assert "in-memory" in env.logs()
    finally:
        env.stop_all()


def test_serving_a_worker_alone_on_the_memory_broker_is_refused(tmp_path):
    from tests.fixtures.hub_process import HubEnv

    env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker_url="memory://")
    result = env.hub("serve", "--role", "worker", check=False)
    assert result.returncode == 2
    assert "--role all" in result.stderr and "Traceback" not in result.stderr

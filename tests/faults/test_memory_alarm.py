"""A RabbitMQ memory alarm on the private node while senders keep sending: the listener cannot
get a confirm, so it answers AE 207 within its publish timeout (never AA), and every message it
did answer AA is stored once the alarm is gone and the senders resent the rest.

The alarm is raised by setting the node's memory high watermark absurdly low, and lifted by
setting it back; the test waits until the node reports the alarm before it probes.
"""
from __future__ import annotations

import socket
import time
import uuid

import pytest

from tests.fixtures.kills import join_all, numbered_frames, start_senders
from tests.fixtures.ledger import END, START, Ledger, StoreCount, poll
from tests.fixtures.acks import read_ack
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient

SENDERS = 4
PER_SENDER = 150
PUBLISH_TIMEOUT_S = 2.0
ALARM_S = 10.0
PROBES = 5               # single tries, timed, while the alarm is on
SETTLE_TIMEOUT_S = 60.0


@pytest.fixture
def env(tmp_path, private_postgres, private_rabbitmq):
    hub = HubEnv(tmp_path, private_postgres.create_database("hub"),
                 broker_url=private_rabbitmq.url)
    hub.env["HUB_MLLP__PUBLISH_TIMEOUT"] = str(PUBLISH_TIMEOUT_S)
    try:
        yield hub
    finally:
        hub.stop_all()


def test_a_memory_alarm_gets_ae_207_in_time_and_no_aa_without_a_confirm(
        env, private_rabbitmq, fault_report):
    prefix = f"MEMALARM-{uuid.uuid4().hex[:6]}-"
    env.start("listener")
    env.start("worker")
    ledger = Ledger()
    store = StoreCount(env.env["HUB_DATABASE_URL"], prefix)
    probes: list[tuple[str, str, str, float]] = []  # (MSH-10, MSA-1, ERR-3, seconds)
    try:
        senders = start_senders(env.mllp_port, numbered_frames(prefix, SENDERS, PER_SENDER),
                                ledger, pace=0.05, timeout=10.0, max_tries=60)
        time.sleep(3)
        private_rabbitmq.ctl("set_vm_memory_high_watermark", "0.0000001")
        raised_at = time.monotonic()
        assert poll(lambda: _alarmed(private_rabbitmq), timeout=20, every=0.2), \
            "the node never raised its memory alarm"
        for n in range(PROBES):
            control_id = f"{prefix}probe-{n}"
            probes.append((control_id, *_timed_send(env.mllp_port, control_id, 100000 + n)))
        time.sleep(max(0.0, ALARM_S - (time.monotonic() - raised_at)))
        private_rabbitmq.ctl("set_vm_memory_high_watermark", "0.4")
        lifted_at = time.monotonic()
        assert poll(lambda: not _alarmed(private_rabbitmq), timeout=20, every=0.2)

        assert join_all(senders, timeout=240), f"senders still running: {ledger.counts()}"
        acked = ledger.acked()
        settled = poll(lambda: store.tally(acked)["lost"] == 0, timeout=SETTLE_TIMEOUT_S)
        recovered_s = time.monotonic() - lifted_at
        time.sleep(2)
        tally = store.tally(acked)
        probe_rows = [r for r in store.rows() if "-probe-" in r[0]]
    finally:
        store.close()
    slowest = max(p[3] for p in probes)
    counts = {**ledger.counts(), **tally, "probes": len(probes),
              "probes_ae_207": sum(1 for p in probes if (p[1], p[2]) == ("AE", "207")),
              "probe_slowest_s": round(slowest, 2),
              "probes_ae_but_stored": len({r[0] for r in probe_rows}),
              "seconds_to_recover": round(recovered_s, 1)}
    fault_report("memory alarm for 10 s", counts)

    # While the node blocks publishers, every answer is AE 207, within the publish timeout.
    assert [(p[1], p[2]) for p in probes] == [("AE", "207")] * PROBES, probes
    assert slowest < PUBLISH_TIMEOUT_S + 1.0, probes
    assert counts["answer_AE"] > 0, f"no sender met the alarm: {counts}"
    # An AA is given only on a confirm: every AA'd message is stored, once.
    assert counts["aa"] == counts["sent"] == SENDERS * PER_SENDER, counts
    assert settled, counts
    assert (tally["lost"], tally["doubled"], tally["healthy_parked"]) == (0, 0, 0), counts


def _alarmed(node) -> bool:
    """Whether the node reports a memory alarm (RabbitMQ's own list of resource alarms)."""
    return "memory" in node.ctl("eval", "rabbit_alarm:get_alarms().", timeout=30)


def _timed_send(port: int, control_id: str, n: int) -> tuple[str, str, float]:
    """One try of one message on a fresh connection: (MSA-1, ERR-3, seconds to the answer)."""
    frame = encoded(oru_r01(patient(n), control_id, n_obx=2))
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(START + frame + END)
        answer = b""
        while not answer.endswith(END):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    ack = read_ack(answer)
    return ack.code, ack.err_code, time.monotonic() - started

"""Batches against a real `hub serve`: over MLLP with python-hl7's client (a good batch answered
by a batch of ACKs, a bad one by one AR), and dropped in the CNS spool (done/ and stored)."""
from __future__ import annotations

import json

import hl7
from hl7.client import MLLPClient

from tests.fixtures.acks import read_ack
from tests.fixtures.messages import adt_a01, batch, encoded, oru_r01, patient

MESSAGES = [oru_r01(patient(n), f"B-{n}", n_obx=2) for n in range(1, 4)] + [adt_a01(patient(4), "B-4")]


def _send(port: int, raw: bytes) -> str:
    """The answer's text; python-hl7's client hands back the frame's start and end blocks too."""
    with MLLPClient("127.0.0.1", port) as client:
        client.socket.settimeout(20)
        return client.send_message(raw).decode("utf-8").strip("\x0b\x1c\r\n")


def _counts(env) -> dict:
    return env.hub_json("status")["messages"]


def test_a_good_batch_over_mllp_is_stored_and_answered_by_one_ack_per_message(hub_env):
    hub_env.start()

    answer = hl7.parse_hl7(_send(hub_env.mllp_port, encoded(batch(*MESSAGES))))

    [acks] = answer
    assert str(answer.header[12]) == "F1" and str(acks.header[12]) == "B1"
    assert [(str(m.segment("MSA")[1]), str(m.segment("MSA")[2])) for m in acks] == \
        [("AA", f"B-{n}") for n in range(1, 5)]
    assert hub_env.wait_until(lambda: _counts(hub_env)["stored"] == 4), hub_env.logs()
    assert _counts(hub_env)["received"] == 4   # a batch is received as its messages


def test_a_bad_batch_over_mllp_gets_one_ar_and_nothing_of_it_is_stored(hub_env):
    hub_env.start()
    bad = batch(*MESSAGES).replace("MSH|", "PID|1\rMSH|", 1)  # a stray PID before the first MSH

    ack = read_ack(_send(hub_env.mllp_port, encoded(bad)))

    assert (ack.code, ack.control_id, ack.err_code) == ("AR", "B1", "100")
    assert ack.text.startswith("PID at line 3 after BHS, outside any message")
    assert hub_env.wait_until(lambda: _counts(hub_env)["rejected"] == 1), hub_env.logs()
    counts = _counts(hub_env)
    assert (counts["received"], counts["stored"]) == (1, 0)   # the refused batch, kept whole
    [kept] = hub_env.hub_json("messages", "--state", "rejected")
    assert (kept["type"], kept["control_id"]) == ("BATCH", "B1")
    # The connection stays usable: the same sender resends it corrected.
    assert read_ack(_send(hub_env.mllp_port, encoded(MESSAGES[0]))).code == "AA"


def test_a_file_dropped_in_the_spool_is_stored_and_moved_to_done(hub_env, tmp_path):
    hub_env.start()
    spool = tmp_path / "spool"
    assert hub_env.wait_until(lambda: (spool / "done").is_dir(), timeout=10)
    (spool / "feed.hl7.part").write_bytes(encoded(batch(*MESSAGES)))
    (spool / "feed.hl7.part").rename(spool / "feed.hl7")
    (spool / "broken.hl7").write_bytes(encoded(batch(*MESSAGES, fts=2)))

    assert hub_env.wait_until(lambda: (spool / "done" / "feed.hl7").exists(), timeout=30), hub_env.logs()
    assert hub_env.wait_until(lambda: _counts(hub_env)["stored"] == 4), hub_env.logs()
    assert (spool / "rejected" / "broken.hl7").exists()
    problem = json.loads((spool / "rejected" / "broken.hl7.report.json").read_text())["problem"]
    assert problem["segment"] == "FTS" and problem["err_code"] == 100
    assert _counts(hub_env)["received"] == 4   # the rejected file published nothing


def test_hub_send_sends_a_batch_file_as_one_frame_and_prints_each_ack(hub_env, tmp_path):
    hub_env.start()
    file = tmp_path / "cns.hl7"
    file.write_bytes(encoded(batch(*MESSAGES)))

    sent = hub_env.hub("send", str(file), "--port", str(hub_env.mllp_port))

    lines = [line.split("\t") for line in sent.stdout.splitlines()]
    assert [(control_id, code) for _, control_id, code in lines] == \
        [(f"B-{n}", "AA") for n in range(1, 5)]
    assert hub_env.wait_until(lambda: _counts(hub_env)["stored"] == 4), hub_env.logs()
    assert _counts(hub_env)["received"] == 4   # one frame, four messages received

    # Sent whole, the file is checked whole: a wrong BTS-1 count refuses all of it at once.
    file.write_bytes(encoded(batch(*MESSAGES, bts=3)))
    refused = hub_env.hub("send", str(file), "--port", str(hub_env.mllp_port), check=False)
    assert refused.returncode == 1
    [[_, control_id, code, _text]] = [line.split("\t") for line in refused.stdout.splitlines()]
    assert (control_id, code) == ("B1", "AR")

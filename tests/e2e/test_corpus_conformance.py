"""Every corpus file over MLLP to a real hub: one ACK per message echoing its MSH-10 (a batch file
is checked whole, then answered with one ACK per message, or one AR naming its first problem);
malformed files refused with a reason; well-formed ones without a matricule answered AE 101 naming
PID-3, and those of a type nobody maps AR 200/201; no crash, no hang. The counts by outcome are
printed (run with -s to see them)."""
from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest
from hl7.client import MLLPClient

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from hub.inbound.batch import is_batch
from tests.fixtures.acks import read_ack, read_acks
from tests.fixtures.corpus import corpus_files
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient

FILES = corpus_files()
SENDERS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "senders" / "everyone.toml"
OUTCOMES: collections.Counter = collections.Counter()
ACKED: list[int] = []   # ACKs per file: a batch's messages are each received and acknowledged


@pytest.fixture(scope="module")
def corpus_hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    env = HubEnv(tmp, f"sqlite:///{tmp / 'hub.db'}")
    # Conformance of the message checks, not of who sends: the corpus's senders (two of its
    # MFN^M02 are accepted) may send anything from here.
    env.env["HUB_SENDERS_FILE"] = str(SENDERS_FILE)
    env.start()
    yield env
    env.stop_all()
    broker = RabbitBroker(os.environ.get("HUB_TEST_AMQP_URL", DEFAULT_AMQP_URL), Topology(env.namespace))
    broker.purge_topology()
    broker.close()
    print("\ncorpus outcomes over MLLP:", dict(sorted(OUTCOMES.items())))


@pytest.fixture(scope="module")
def client(corpus_hub):
    with MLLPClient("127.0.0.1", corpus_hub.mllp_port) as mllp:
        mllp.socket.settimeout(10)  # a hang fails the test instead of stalling the run
        yield mllp


@pytest.mark.parametrize("sample", FILES, ids=lambda f: f.name)
def test_each_corpus_file_gets_exactly_one_fitting_answer(sample, client):
    raw = sample.path.read_bytes()
    acks = read_acks(client.send_message(raw))
    ACKED.append(len(acks))
    for ack in acks:
        OUTCOMES[f"{ack.code} {ack.err_code}".strip()] += 1
        assert ack.code in {"AA", "AE", "AR", "CA", "CE", "CR"}
        if ack.code.replace("C", "A", 1) != "AA":
            assert ack.err_code and ack.text, "a refusal names its ERR-3 code and a reason"

    if is_batch(raw):  # a batch: checked whole, then one ACK per message, or one AR for the file
        assert len(acks) >= 1
        if len(acks) == 1 and acks[0].code == "AR":
            assert acks[0].err_code in {"100", "101", "102"}
        return
    assert len(acks) == 1, "one ACK per message"
    ack = acks[0]
    code = ack.code.replace("C", "A", 1)  # enhanced mode (MSH-15/16 set) answers CA/CE/CR
    if raw.lstrip().startswith(b"MSH") and sample.control_id:
        assert ack.control_id == sample.control_id.split("^")[0]
    if sample.malformed:
        assert code in {"AR", "AE"}
    elif code == "AE":  # well-formed but not for the DSP: no matricule (these are foreign samples)
        assert (ack.err_code, ack.err_location) in {("101", "PID^1^3"), ("102", "PID^1^3")}
    elif code == "AR":  # a type nobody maps, or a header the hub cannot accept (index.tsv
        # does not mark an empty MSH-9.2 or MSH-11 malformed; the hub needs both)
        assert ack.err_code in {"200", "201", "202", "203", "102"} or (
            ack.err_code == "101" and ack.err_location.startswith("MSH^1^")), ack


def test_the_hub_still_answers_after_the_whole_corpus(corpus_hub, client):
    ack = read_ack(client.send_message(encoded(oru_r01(patient(1), "AFTER-CORPUS"))))
    assert (ack.code, ack.control_id) == ("AA", "AFTER-CORPUS")
    expected = sum(ACKED) + 1 if len(ACKED) == len(FILES) else None
    status = corpus_hub.hub_json("status")
    assert expected is not None, "run the whole module: every file is counted"
    assert corpus_hub.wait_until(
        lambda: corpus_hub.hub_json("status")["messages"]["received"] == expected), status

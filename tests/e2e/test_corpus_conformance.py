"""Every corpus file over MLLP to a real hub: exactly one ACK each, echoing its MSH-10; malformed
files refused with a reason; well-formed ones without a matricule answered AE 101 naming PID-3;
no crash, no hang. The counts by outcome are printed (run with -s to see them)."""
from __future__ import annotations

import collections
import os

import pytest
from hl7.client import MLLPClient

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology
from tests.fixtures.acks import read_ack
from tests.fixtures.corpus import corpus_files
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient

FILES = corpus_files()
OUTCOMES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def corpus_hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    env = HubEnv(tmp, f"sqlite:///{tmp / 'hub.db'}")
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
def test_each_corpus_file_gets_exactly_one_fitting_ack(sample, client):
    raw = sample.path.read_bytes()
    ack = read_ack(client.send_message(raw))
    OUTCOMES[f"{ack.code} {ack.err_code}".strip()] += 1

    code = ack.code.replace("C", "A", 1)  # enhanced mode (MSH-15/16 set) answers CA/CE/CR
    assert ack.code in {"AA", "AE", "AR", "CA", "CE", "CR"}
    if raw.lstrip().startswith(b"MSH") and sample.control_id:
        assert ack.control_id == sample.control_id.split("^")[0]
    if code != "AA":
        assert ack.err_code and ack.text, "a refusal names its ERR-3 code and a reason"
    if sample.malformed:
        assert code in {"AR", "AE"}
    elif code == "AE":
        assert (ack.err_code, ack.err_location) in {("101", "PID^1^3"), ("102", "PID^1^3")}


def test_the_hub_still_answers_after_the_whole_corpus(corpus_hub, client):
    ack = read_ack(client.send_message(encoded(oru_r01(patient(1), "AFTER-CORPUS"))))
    assert (ack.code, ack.control_id) == ("AA", "AFTER-CORPUS")
    status = corpus_hub.hub_json("status")
    assert corpus_hub.wait_until(
        lambda: corpus_hub.hub_json("status")["messages"]["received"] == len(FILES) + 1), status

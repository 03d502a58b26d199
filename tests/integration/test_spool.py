"""The CNS spool against real RabbitMQ and a real worker: a good file is published whole and moves
to done/, a bad one moves to rejected/ with nothing published, a hub that dies mid-file
publishes the file again on restart without doubling anything; files still being written wait."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hub.broker.headers import CONTROL_ID
from hub.broker.port import Publisher
from hub.errors import PublishNotConfirmed
from hub.inbound.intake import Intake
from hub.inbound.spool import CnsSpool
from hub.metrics import Metrics
from hub.mapping.loader import load_mappings
from hub.routing.outcome import RoutingPolicy
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from tests.fixtures.loopback import POLICY
from tests.fixtures.messages import adt_a01, batch, oru_r01, patient
from tests.fixtures.rabbit import new_topology, rabbit_broker

pytestmark = pytest.mark.rabbitmq

MESSAGES = [oru_r01(patient(n), f"CNS-{n}", n_obx=2) if n % 2 else adt_a01(patient(n), f"CNS-{n}")
            for n in range(1, 7)]


@pytest.fixture
def rabbit():
    topology = new_topology()
    broker = rabbit_broker(topology)
    yield broker, topology
    broker.purge_topology()
    broker.close()


class DiesAfter(Publisher):
    """Publishes through the real publisher, then the process 'dies' (a BaseException nobody
    catches) at the n-th publish: what a kill mid-file leaves behind."""

    def __init__(self, real: Publisher, n: int) -> None:
        self.real, self.left = real, n

    async def publish(self, queue, body, *, message_id, headers, timeout):
        if self.left == 0:
            raise KeyboardInterrupt("hub killed mid-file")
        self.left -= 1
        await self.real.publish(queue, body, message_id=message_id, headers=headers, timeout=timeout)

    async def close(self):
        await self.real.close()


def looks(broker, topology, spool_dir: Path, count: int = 2, dies_after: int | None = None) -> dict:
    """`count` looks at the spool by a fresh CnsSpool (a fresh hub process)."""
    async def run() -> dict:
        real = await broker.open_publisher()
        publisher = real if dies_after is None else DiesAfter(real, dies_after)
        spool = CnsSpool(Intake(publisher, topology.inbound, POLICY, Metrics()), spool_dir)
        spool.prepare()
        outcomes: dict = {}
        try:
            for _ in range(count):
                outcomes.update(await spool.poll_once())
        finally:
            await real.close()
        return outcomes
    return asyncio.run(run())


def drain(broker, topology, uow_factory, expected: int) -> dict[str, int]:
    """Work the queue until `expected` messages are filed and half a second brings no more."""
    worker = RoutingWorker(broker, topology, uow_factory, load_mappings(REPO_ROOT / "mappings"),
                           RoutingPolicy(), Metrics(), batch_size=20, batch_wait=0.5)
    for _ in range(100):
        worker.drain()
        counts = states(uow_factory)
        if sum(counts.values()) >= expected and not worker.drain():
            return counts
    return states(uow_factory)


def states(uow_factory) -> dict[str, int]:
    with uow_factory() as uow:
        return {k: v for k, v in uow.messages.count_by_state().items() if v}


def drop(spool_dir: Path, name: str, text: str) -> Path:
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_a_good_file_is_stored_through_a_worker_and_moves_to_done(rabbit, uow_factory, tmp_path,
                                                                   caplog):
    broker, topology = rabbit
    spool = tmp_path / "spool"
    no_matricule = oru_r01(patient(9), "CNS-9", n_obx=1).replace("^^^CNS^NN~", "^^^CNS^XX~")
    drop(spool, "cns-20261125.hl7", batch(*MESSAGES, no_matricule))

    with caplog.at_level("INFO", logger="hub.inbound.spool"):
        assert looks(broker, topology, spool) == {"cns-20261125.hl7": "done"}
    assert "cns-20261125.hl7 done, 7 message(s)" in caplog.text

    assert not (spool / "cns-20261125.hl7").exists()
    assert (spool / "done" / "cns-20261125.hl7").exists()
    report = json.loads((spool / "done" / "cns-20261125.hl7.report.json").read_text())
    assert (report["messages"], report["by_outcome"], report["control_id"], report["sender"]) == \
        (7, {"accepted": 6, "rejected": 1}, "B1", "CNS^CNS")
    assert drain(broker, topology, uow_factory, 7) == {"stored": 6, "rejected": 1}
    with uow_factory() as uow:
        [refused] = uow.messages.search(state="rejected")
    assert (refused.control_id, refused.peer) == ("CNS-9", "cns-spool:cns-20261125.hl7")


def test_a_bad_file_moves_to_rejected_with_a_report_and_nothing_is_published(rabbit, tmp_path):
    broker, topology = rabbit
    spool = tmp_path / "spool"
    drop(spool, "short.hl7", batch(*MESSAGES, bts=7))

    assert looks(broker, topology, spool) == {"short.hl7": "rejected"}

    assert (spool / "rejected" / "short.hl7").read_bytes() == batch(*MESSAGES, bts=7).encode()
    report = json.loads((spool / "rejected" / "short.hl7.report.json").read_text())
    assert report["published"] == 0 and report["problem"]["segment"] == "BTS"
    assert "says 7, the batch holds 6" in report["problem"]["text"]
    assert patient(1).family_name not in json.dumps(report)
    assert broker.queue_stats()[topology.inbound].depth == 0


def test_a_hub_killed_mid_file_publishes_it_again_and_nothing_is_doubled(rabbit, uow_factory, tmp_path):
    broker, topology = rabbit
    spool = tmp_path / "spool"
    drop(spool, "feed.hl7", batch(*MESSAGES))

    with pytest.raises(KeyboardInterrupt):
        looks(broker, topology, spool, dies_after=3)
    assert (spool / "feed.hl7").exists() and not list((spool / "done").iterdir())
    assert broker.queue_stats()[topology.inbound].depth == 3

    assert looks(broker, topology, spool) == {"feed.hl7": "done"}   # the restarted hub

    assert drain(broker, topology, uow_factory, 9) == {"stored": 6, "discarded": 3}
    with uow_factory() as uow:
        entries = sum(len(uow.entries.for_patient(uow.patients.find(patient(n).matricule)))
                      for n in range(1, 7))
    assert entries == 3 * 2 + 3  # three ORU of two results, three ADT of one encounter


def test_files_being_written_or_not_meant_yet_are_left_alone(rabbit, tmp_path):
    broker, topology = rabbit
    spool = tmp_path / "spool"
    for name in (".hidden.hl7", "feed.hl7.tmp", "feed.hl7.part"):
        drop(spool, name, batch(*MESSAGES))

    async def growing() -> dict:
        real = await broker.open_publisher()
        spool_ = CnsSpool(Intake(real, topology.inbound, POLICY, Metrics()), spool)
        spool_.prepare()
        outcomes = [await spool_.poll_once()]
        path = drop(spool, "growing.hl7", batch(*MESSAGES[:2]))
        outcomes.append(await spool_.poll_once())            # first sight: wait
        path.write_bytes(batch(*MESSAGES[:3]).encode())      # still being written
        outcomes.append(await spool_.poll_once())
        outcomes.append(await spool_.poll_once())            # unchanged since: taken
        await real.close()
        return outcomes

    assert asyncio.run(growing()) == [{}, {}, {}, {"growing.hl7": "done"}]
    assert sorted(p.name for p in spool.iterdir() if p.is_file()) == \
        [".hidden.hl7", "feed.hl7.part", "feed.hl7.tmp"]
    assert broker.queue_stats()[topology.inbound].depth == 3


class Refusing(Publisher):
    async def publish(self, queue, body, *, message_id, headers, timeout):
        raise PublishNotConfirmed("broker away")

    async def close(self):
        pass


def test_a_file_the_broker_did_not_confirm_stays_for_the_next_look(tmp_path):
    spool = tmp_path / "spool"
    drop(spool, "feed.hl7", batch(*MESSAGES))

    async def run() -> dict:
        spool_ = CnsSpool(Intake(Refusing(), "q", POLICY, Metrics()), spool)
        spool_.prepare()
        await spool_.poll_once()
        return await spool_.poll_once()

    assert asyncio.run(run()) == {"feed.hl7": "retry"}
    assert (spool / "feed.hl7").exists()
    assert not list((spool / "done").iterdir()) and not list((spool / "rejected").iterdir())


class RefusesOnce(Publisher):
    """Confirms the first `first` publishes, refuses the next (the broker going away), then
    confirms again; keeps the MSH-10 of every message it confirmed."""

    def __init__(self, first: int) -> None:
        self.left, self.confirmed = first, []

    async def publish(self, queue, body, *, message_id, headers, timeout):
        self.left -= 1
        if self.left == -1:
            raise PublishNotConfirmed("broker away")
        self.confirmed.append(headers[CONTROL_ID])

    async def close(self):
        pass


def test_the_next_look_goes_on_from_the_first_message_the_broker_did_not_confirm(tmp_path):
    # The second message has no matricule: answered AE 101, it is kept as a rejected record,
    # which no resend rule discards; publishing the file again whole would count it twice.
    anonymous = adt_a01(patient(2), "CNS-2").replace(patient(2).matricule, "")
    spool = tmp_path / "spool"
    drop(spool, "feed.hl7", batch(MESSAGES[0], anonymous, *MESSAGES[2:]))
    publisher = RefusesOnce(first=3)

    async def run() -> list[dict]:
        spool_ = CnsSpool(Intake(publisher, "q", POLICY, Metrics()), spool)
        spool_.prepare()
        return [await spool_.poll_once() for _ in range(3)]

    assert asyncio.run(run()) == [{}, {"feed.hl7": "retry"}, {"feed.hl7": "done"}]
    # Messages 5 and 6, confirmed after the refused 4th, go again with it (the workers discard
    # accepted resends); the three confirmed before it do not.
    assert publisher.confirmed == ["CNS-1", "CNS-2", "CNS-3", "CNS-5", "CNS-6",
                                   "CNS-4", "CNS-5", "CNS-6"]
    report = json.loads((spool / "done" / "feed.hl7.report.json").read_text())
    assert (report["messages"], report["by_ack_code"]) == (6, {"AA": 5, "AE": 1})

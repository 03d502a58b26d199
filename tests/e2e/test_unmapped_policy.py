"""worker.unmapped_policy through a real hub, on SQLite and PostgreSQL: "reject" (the default)
answers AR 200 or 201 at MSH^1^9 for a type nothing handles, while a mapped type and the
registry's MFN^M02 are accepted; "park" accepts it and the worker parks it as unmapped. Either
way the message is counted and its bytes are kept."""
from __future__ import annotations

from pathlib import Path

from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.messages import adt_a01, encoded, oru_r01, patient

PERSON = patient(77)
MFN = ("MSH|^~\\&|HR|CHL|DSP|HUB|20250102120000||MFN^M02^MFN_M02|MF-1|P|2.5\r"
       "MFI|STF^Staff master file^HL70175||UPD|||AL\r"
       "MFE|MAD|||123456-78^^CNS\r"
       "STF|123456-78|123456-78^^^CNS^CNS|Weber^Anne|D||19700101|A\r"
       "PRA|123456-78||GP\r").encode()
ACK = b"MSH|^~\\&|LIS|CHL|DSP|HUB|20250102120000||ACK^R01^ACK|ACK-1|P|2.5\rMSA|AA|X-1\r"


def _unmapped() -> list[bytes]:
    siu = adt_a01(PERSON, "SIU-1").replace("ADT^A01^ADT_A01", "SIU^S12^SIU_S12")
    a17 = adt_a01(PERSON, "A17-1", event="A17").replace("ADT_A01", "ADT_A17")
    return [encoded(siu), encoded(a17), ACK]


def _raw(env, message_id: str) -> bytes:
    engine = make_engine(env.env["HUB_DATABASE_URL"])
    try:
        with UnitOfWork(engine, Keyring.load_or_create(Path(env.env["HUB_KEY_FILE"]))) as uow:
            return uow.messages.raw(message_id)
    finally:
        engine.dispose()


def test_reject_answers_ar_200_or_201_and_keeps_the_bytes(hub_env):
    unmapped = _unmapped()
    hub_env.start()

    acks = send_with_python_hl7(hub_env.mllp_port, [*unmapped, encoded(oru_r01(PERSON, "ORU-1")),
                                                    MFN])

    assert [(a.code, a.err_code, a.err_location) for a in acks] == [
        ("AR", "200", "MSH^1^9"), ("AR", "201", "MSH^1^9"), ("AR", "200", "MSH^1^9"),
        ("AA", "", ""), ("AA", "", "")]
    assert acks[0].text.startswith("unsupported message type")
    assert acks[1].text.startswith("unsupported event code: ADT event A17")
    assert [a.control_id for a in acks] == ["SIU-1", "A17-1", "ACK-1", "ORU-1", "MF-1"]
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 2)
    counts = hub_env.hub_json("status")["messages"]
    assert (counts["received"], counts["rejected"], counts["parked"]) == (5, 3, 0)
    rejected = {m["control_id"]: m for m in hub_env.hub_json("messages", "--state", "rejected")}
    assert sorted(rejected) == ["A17-1", "ACK-1", "SIU-1"]
    assert [_raw(hub_env, rejected[c]["id"]) for c in ("SIU-1", "A17-1", "ACK-1")] == unmapped
    assert [p["cns_code"] for p in hub_env.hub_json("professionals", "list")] == ["123456-78"]


def test_park_accepts_and_the_worker_parks_it_as_unmapped(hub_env):
    unmapped = _unmapped()[0]
    hub_env.start(HUB_WORKER__UNMAPPED_POLICY="park")

    acks = send_with_python_hl7(hub_env.mllp_port, [unmapped])

    assert [(a.code, a.control_id) for a in acks] == [("AA", "SIU-1")]
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["parked"] == 1)
    [parked] = hub_env.hub_json("messages", "--state", "parked")
    assert parked["reason"].startswith("unmapped")
    assert hub_env.hub_json("status")["messages"]["received"] == 1
    assert _raw(hub_env, parked["id"]) == unmapped

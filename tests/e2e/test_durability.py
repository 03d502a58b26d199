"""A worker killed mid-stream loses nothing and doubles nothing; nothing lands in clear."""
from __future__ import annotations

import collections
import subprocess
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.messages import encoded, oru_r01, patient

TOTAL = 400
SENDERS = 4
N_OBX = 2


def test_sigkilled_worker_loses_nothing_and_doubles_nothing(hub_env):
    hub_env.start("listener")
    worker = hub_env.start("worker", HUB_WORKER__BATCH_SIZE="20")
    acks: list = []

    def sender(k: int) -> None:
        batch = [encoded(oru_r01(patient(i), f"KILL-{i}", n_obx=N_OBX))
                 for i in range(k, TOTAL, SENDERS)]
        acks.extend(send_with_python_hl7(hub_env.mllp_port, batch))

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    for thread in threads:
        thread.start()
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] >= 40, every=0.05)
    worker.kill()  # SIGKILL: no clean shutdown, a batch may be half done
    worker.wait()
    for thread in threads:
        thread.join()
    hub_env.start("worker")

    assert sorted(a.code for a in acks) == ["AA"] * TOTAL
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == TOTAL,
                              timeout=120), hub_env.logs()
    stored = hub_env.hub_json("messages", "--state", "stored", "--limit", "10000")
    per_control_id = collections.Counter(m["control_id"] for m in stored)
    assert len(per_control_id) == TOTAL and set(per_control_id.values()) == {1}
    status = hub_env.hub_json("status")["messages"]
    assert status["received"] == TOTAL and status["discarded"] == status["parked"] == 0
    some = patient(TOTAL - 1)
    assert len(hub_env.hub_json("dossier", "show", some.matricule)["entries"]) == N_OBX


def test_database_holds_no_patient_data_in_clear(hub_env, tmp_path):
    hub_env.start()
    people = [patient(n) for n in range(3)]
    acks = send_with_python_hl7(hub_env.mllp_port,
                                [encoded(oru_r01(p, f"CLEAR-{n}")) for n, p in enumerate(people)])
    assert [a.code for a in acks] == ["AA"] * 3
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 3)
    hub_env.stop_all()

    dump = _database_bytes(hub_env.env["HUB_DATABASE_URL"], tmp_path)
    assert len(dump) > 10_000  # the dump is real: schema and ciphertexts are there
    for p in people:
        for secret in (p.matricule, p.family_name, p.given_name, p.matricule[:11]):
            for encoding in ("utf-8", "latin-1"):
                raw = secret.encode(encoding)
                # pg_dump writes bytea as hex: plaintext in a binary column would show that way
                assert raw not in dump and raw.hex().encode() not in dump, "patient data in clear"
    for result in (b"Cholesterol", b"mmol/L"):
        assert result not in dump and result.hex().encode() not in dump


def _database_bytes(url: str, tmp_path: Path) -> bytes:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    out = tmp_path / "dump.sql"
    subprocess.run(["pg_dump", "-h", parsed.host, "-U", parsed.username or "postgres",
                    "-p", str(parsed.port or 5432), "-f", str(out), parsed.database], check=True)
    return out.read_bytes()

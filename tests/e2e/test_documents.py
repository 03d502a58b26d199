"""Documents through a real hub: a PDF sent as ED (base64, wrapped with \\X0D\\\\X0A\\, split over
repetitions or over OBX segments) is a `document` entry, stored encrypted, and
`hub dossier document` gives back the very bytes that were sent; with --as the read is
consent-checked and journaled. On SQLite and PostgreSQL, with RabbitMQ."""
from __future__ import annotations

import base64
import hashlib
import random
import subprocess
import sys

from sqlalchemy import select

from hub.store.engine import make_engine
from hub.store.tables import entries
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import encoded, oru_r01, patient

PERSON = patient(41)
DOCTOR, STRANGER = "123456-78", "345678-90"
WRAP = "\\X0D\\\\X0A\\"
HEADER = ("cns_code,family_name,given_name,specialty,status,mllp_host,mllp_port,"
          "receiving_application,receiving_facility")


def _pdf(seed: int, size: int) -> bytes:
    """A synthetic PDF: a header, binary noise (every byte value), a trailer."""
    noise = random.Random(seed).randbytes(size)
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + noise + bytes(range(256)) + b"\n%%EOF\n"


def _wrapped(data: bytes) -> str:
    """Base64 in 76-character lines joined by the escaped CR LF senders insert."""
    text = base64.b64encode(data).decode("ascii")
    return WRAP.join(text[i:i + 76] for i in range(0, len(text), 76))


def _ed(text: str) -> str:
    return f"LAB^AP^PDF^Base64^{text}"


def _oru(control_id: str, obx5: str) -> str:
    lines = oru_r01(PERSON, control_id, n_obx=2).rstrip("\r").split("\r")
    lines.append(f"OBX|3|ED|18748-4^Diagnostic report^LN||{obx5}||||||F|||20261125093000")
    return "\r".join(lines) + "\r"


def _mdm(control_id: str, *obx5: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|DOCSYS|CHL|DSP|DSP|20261125101500||MDM^T02^MDM_T02|{control_id}|P|2.5"
        "||||||UNICODE UTF-8",
        "EVN|T02|20261125101500",
        f"PID|1||{PERSON.matricule}^^^CNS^NN||{PERSON.family_name}^{PERSON.given_name}||"
        f"{PERSON.birth_date}|F",
        "PV1|1|O|CARD^^^CHL",
        "TXA|1|CN|AP|20261125100000|||||||||DOC-1||||AU||AV",
        *(f"OBX|{i}|ED|PDF^Report||{_ed(part)}||||||F" for i, part in enumerate(obx5, 1)),
    ]) + "\r"


def _document(env, entry_id: str, *extra: str) -> subprocess.CompletedProcess:
    """`hub dossier document` with stdout kept as bytes."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli.main", "dossier", "document", PERSON.matricule,
         entry_id, *extra], env=env.env, cwd=REPO, capture_output=True, timeout=120)


def test_pdf_bytes_round_trip_through_worker_store_and_cli(hub_env, tmp_path):
    pdfs = {name: _pdf(seed, size) for seed, (name, size) in enumerate(
        [("wrapped", 6000), ("repetitions", 5000), ("padded", 3001), ("mdm", 4000)])}
    wrapped = _wrapped(pdfs["wrapped"])
    reps = base64.b64encode(pdfs["repetitions"]).decode()
    cut = len(reps) // 2 // 4 * 4 + 1          # not on a 4-character boundary
    halves = (pdfs["padded"][:1500], pdfs["padded"][1500:])   # each half padded on its own
    mdm = _wrapped(pdfs["mdm"]).split(WRAP)
    messages = [
        encoded(_oru("DOC-1", _ed(wrapped))),
        encoded(_oru("DOC-2", f"{_ed(reps[:cut])}~{_ed(reps[cut:])}")),
        encoded(_oru("DOC-3", "~".join(_ed(base64.b64encode(h).decode()) for h in halves))),
        encoded(_mdm("DOC-4", *mdm)),
    ]
    hub_env.start()
    assert [a.code for a in send_with_python_hl7(hub_env.mllp_port, messages)] == ["AA"] * 4
    assert hub_env.wait_until(
        lambda: hub_env.hub_json("status")["messages"]["stored"] == 4), hub_env.logs()

    dossier = hub_env.hub_json("dossier", "show", PERSON.matricule)
    documents = [e for e in dossier["entries"] if e["kind"] == "document"]
    assert [e["kind"] for e in dossier["entries"]].count("lab_result") == 6   # 3 ORU x 2 NM
    assert len(documents) == 4
    for entry, (name, pdf) in zip(documents, pdfs.items()):
        out = tmp_path / f"{name}.pdf"
        hub_env.hub("dossier", "document", PERSON.matricule, entry["id"], "--out", str(out))
        assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(pdf).hexdigest(), \
            name
    to_stdout = _document(hub_env, documents[0]["id"])
    assert to_stdout.returncode == 0 and to_stdout.stdout == pdfs["wrapped"]

    # Encrypted at rest: no run of the base64 text is in the entries' ciphertexts.
    engine = make_engine(hub_env.env["HUB_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            stored = b"".join(connection.execute(select(entries.c.payload_ct)).scalars())
    finally:
        engine.dispose()
    assert wrapped[:40].encode() not in stored and b"%PDF" not in stored


def test_a_professional_reads_a_document_only_with_consent_and_the_read_is_journaled(
        hub_env, tmp_path):
    pdf = _pdf(9, 2000)
    registry = tmp_path / "registry.csv"
    registry.write_text("\n".join([HEADER, f"{DOCTOR},Doe,Jo,GP,active,,,,",
                                   f"{STRANGER},Roe,Al,GP,active,,,,"]) + "\n", encoding="utf-8")
    hub_env.start()
    hub_env.hub("professionals", "import", str(registry))
    hub_env.hub("consent", "grant", PERSON.matricule, DOCTOR)
    acks = send_with_python_hl7(hub_env.mllp_port, [encoded(_oru("DOC-9", _ed(_wrapped(pdf))))])
    assert [a.code for a in acks] == ["AA"]
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 1)
    [document] = [e for e in hub_env.hub_json("dossier", "show", PERSON.matricule)["entries"]
                  if e["kind"] == "document"]
    lab = next(e for e in hub_env.hub_json("dossier", "show", PERSON.matricule)["entries"]
               if e["kind"] == "lab_result")

    allowed = _document(hub_env, document["id"], "--as", DOCTOR)
    denied = _document(hub_env, document["id"], "--as", STRANGER)
    not_a_document = _document(hub_env, lab["id"])

    assert allowed.returncode == 0 and allowed.stdout == pdf
    assert denied.returncode == 1 and denied.stdout == b""
    assert denied.stderr.decode().strip() == \
        f"hub: {STRANGER} may not read this document: no grant in force"
    assert not_a_document.returncode == 1 and b"not a document" in not_a_document.stderr
    reads = [(e["actor"], e["outcome"], e["entry"]) for e in
             hub_env.hub_json("journal", PERSON.matricule) if e["action"] == "read"]
    assert reads == [(DOCTOR, "ok", document["id"]), (STRANGER, "denied", document["id"])]
    assert hub_env.hub("audit", "verify").returncode == 0


def test_a_report_under_the_frame_cap_is_stored_and_one_past_it_refused_with_an_ar(hub_env):
    # mllp.max_frame is 1 MiB by default: a 600 KB PDF (about 900 KB of wrapped base64) comes in;
    # a 900 KB one does not, and its sender is told so instead of waiting on a closed connection.
    near, past = _pdf(11, 600_000), _pdf(12, 900_000)
    messages = [encoded(_oru("BIG-1", _ed(_wrapped(near)))),
                encoded(_oru("BIG-2", _ed(_wrapped(past)))), encoded(oru_r01(PERSON, "BIG-3"))]
    hub_env.start()

    acks = send_with_python_hl7(hub_env.mllp_port, messages)

    assert [(a.code, a.control_id, a.err_code) for a in acks] == [
        ("AA", "BIG-1", ""), ("AR", "BIG-2", "207"), ("AA", "BIG-3", "")]
    assert acks[1].text == (f"message of {len(messages[1])} bytes refused: the hub takes at "
                            "most 1048576 bytes per frame (mllp.max_frame)")
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 2)
    counts = hub_env.hub_json("status")["messages"]
    assert (counts["received"], counts["rejected"]) == (3, 1)
    [document] = [e for e in hub_env.hub_json("dossier", "show", PERSON.matricule)["entries"]
                  if e["kind"] == "document"]
    out = subprocess.run([sys.executable, "-m", "hub.cli.main", "dossier", "document",
                          PERSON.matricule, document["id"]], env=hub_env.env, cwd=REPO,
                         capture_output=True, timeout=60, check=True)
    assert hashlib.sha256(out.stdout).digest() == hashlib.sha256(near).digest()

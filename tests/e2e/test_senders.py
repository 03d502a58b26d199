"""Who may send what (config/senders.toml, hub/inbound/senders.py) through a real hub over
MLLP with TLS client certificates, on real RabbitMQ: a hospital's forged CNS A31, MFN^M02,
ADT^A40 and DFT^P03 are refused with AR 207 and change nothing; the same from the privileged
sender's certificate take effect. An unlisted sender is refused; without a senders file the
hub runs open (clinical messages only) and says so; a bad senders file stops `hub serve`."""
from __future__ import annotations

import socket
import ssl
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from hub.mllp.framing import wrap
from tests.fixtures.acks import read_ack
from tests.fixtures.certs import make_pki
from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import adt_a31, adt_a40, dft_p03, encoded, oru_r01, patient

DOCTOR = "123456-78"
MFN = ("MSH|^~\\&|{sender}|DSP|HUB|20250102120000||MFN^M02^MFN_M02|{id}|P|2.5\r"
       "MFI|STF^Staff master file^HL70175||UPD|||AL\r"
       f"MFE|MAD|||{DOCTOR}^^CNS\r"
       f"STF|{DOCTOR}|{DOCTOR}^^^CNS^CNS|Weber^Anne|D||19700101|A\r"
       f"PRA|{DOCTOR}||GP\r")
SENDERS = """
[[sender]]
name = "cns"
application = "CNS"
facility = "*"
certificate_fingerprints = ["{cns}"]
types = ["*"]
privileges = ["declare_referent", "merge_patients", "update_registry", "cns_prestations"]

[[sender]]
name = "chl-lab"
application = "LABSYS"
facility = "CHL"
certificate_subjects = ["CN=lab"]
addresses = ["127.0.0.1"]
types = ["*"]
"""


def _pki(tmp_path):
    """The hub's, the hospital's ("CN=lab") and the CNS's ("CN=cns") certificates."""
    (tmp_path / "pki").mkdir()
    return make_pki(tmp_path / "pki", clients=("cns",))


def _fingerprint(cert_path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()


class _Peer:
    """One MLLP connection over TLS with a client certificate."""

    def __init__(self, port: int, server_ca, cert, key) -> None:
        context = ssl.create_default_context(cafile=str(server_ca))
        context.load_cert_chain(str(cert), str(key))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")

    def send(self, text: str | bytes):
        self.sock.sendall(wrap(text if isinstance(text, bytes) else encoded(text)))
        data = b""
        while not data.endswith(b"\x1c\r"):
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed before the ACK"
            data += chunk
        return read_ack(data.strip(b"\x0b\x1c\r"))

    def close(self) -> None:
        self.sock.close()


def _effects(env, matricules) -> dict:
    journal = {m: {e["action"] for e in env.hub_json("journal", m)} for m in matricules}
    doctors = {p["cns_code"] for p in env.hub_json("professionals", "list")}
    return {"referent": "referent.declare" in journal[matricules[0]],
            "merged": "patient.merged" in journal[matricules[1]],
            "registry": DOCTOR in doctors,
            "prestations": any(e["kind"] == "prestation" for e in
                               env.hub_json("dossier", "show", matricules[2])["entries"])}


def _messages(sender: str, tag: str, people) -> list[str]:
    who = sender.replace("^", "|")
    cns_feed = "CNS|CNS"
    a31 = adt_a31(people[0], f"A31-{tag}", pd1=DOCTOR).replace(cns_feed, who)
    a40 = adt_a40(people[1], people[3], f"A40-{tag}").replace("LABSYS|CHL", who)
    dft = dft_p03(people[2], f"DFT-{tag}", [("20260105", "CG", "C1", "50", DOCTOR)]).replace(
        cns_feed, who)
    return [a31, MFN.format(sender=who, id=f"MFN-{tag}"), a40, dft]


def test_privileged_messages_need_the_privileged_certificate(hub_env, tmp_path):
    pki = _pki(tmp_path)
    cns_cert, cns_key = pki.clients["cns"]
    senders = tmp_path / "senders.toml"
    senders.write_text(SENDERS.replace("{cns}", _fingerprint(cns_cert)))
    hub_env.env.update(HUB_SENDERS_FILE=str(senders),
                       HUB_MLLP__TLS_CERT_FILE=str(pki.server_cert),
                       HUB_MLLP__TLS_KEY_FILE=str(pki.server_key),
                       HUB_MLLP__TLS_CLIENT_CA_FILE=str(pki.ca))
    hub_env.start()
    people = [patient(n) for n in (31, 40, 3, 41)]
    matricules = [p.matricule for p in people]
    lab = _Peer(hub_env.mllp_port, pki.ca, pki.client_cert, pki.client_key)
    for person in people:  # every dossier exists before the merge
        assert lab.send(oru_r01(person, f"ORU-{person.matricule[-4:]}", n_obx=1)).code == "AA"
    forged = _messages("CNS^EVILHOSP", "EVIL", people)[:1] + _messages("LABSYS^CHL", "HOSP",
                                                                      people)[1:]
    refused = [lab.send(text) for text in forged]
    assert [(a.code, a.err_code) for a in refused] == [("AR", "207")] * 4, refused
    assert "may not connect from this peer" in refused[0].text
    for ack, privilege in zip(refused[1:], ("update_registry", "merge_patients",
                                            "cns_prestations")):
        assert f"needs privilege {privilege}" in ack.text
    unlisted = lab.send(oru_r01(people[0], "NOBODY-1", n_obx=1).replace("LABSYS|CHL", "ZZZ|NOWHERE"))
    assert (unlisted.code, unlisted.err_code) == ("AR", "207")
    assert "not in the senders file" in unlisted.text
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["rejected"] == 5)
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 4)
    assert _effects(hub_env, matricules) == dict.fromkeys(
        ("referent", "merged", "registry", "prestations"), False)
    lab.close()

    national = _Peer(hub_env.mllp_port, pki.ca, cns_cert, cns_key)
    accepted = [national.send(text) for text in _messages("CNS^CNS", "CNS", people)]
    national.close()
    assert [a.code for a in accepted] == ["AA"] * 4, accepted
    assert hub_env.wait_until(lambda: hub_env.hub_json("status")["messages"]["stored"] == 8)
    assert hub_env.wait_until(lambda: all(_effects(hub_env, matricules).values())), \
        _effects(hub_env, matricules)


def test_without_a_senders_file_the_hub_is_open_to_clinical_messages_only(hub_env):
    hub_env.env["HUB_SENDERS_FILE"] = ""
    hub_env.start()
    person, other = patient(50), patient(51)
    from hl7.client import MLLPClient
    with MLLPClient("127.0.0.1", hub_env.mllp_port) as client:
        oru = oru_r01(person, "OPEN-1", n_obx=1).replace("LABSYS|CHL", "ZZZ|NOWHERE")
        assert read_ack(client.send_message(encoded(oru))).code == "AA"
        for text in _messages("CNS^CNS", "OPEN", [person, other, person, patient(52)]):
            ack = read_ack(client.send_message(encoded(text)))
            assert (ack.code, ack.err_code) == ("AR", "207"), ack
            assert "without a senders file" in ack.text
    assert "runs open" in hub_env.logs()
    status = hub_env.hub("status")
    assert "warning: no senders file" in status.stdout
    assert hub_env.hub_json("status")["warnings"]


def test_a_bad_senders_file_stops_serve_naming_the_entry(hub_env, tmp_path):
    bad = tmp_path / "senders.toml"
    bad.write_text('[[sender]]\nname = "lab"\napplication = "LAB"\nfacility = "CHL"\n'
                   'addresses = ["10.0.0.300"]\ntypes = ["ORU^R01"]\n')
    result = subprocess.run([sys.executable, "-m", "hub.cli.main", "serve"],
                            env={**hub_env.env, "HUB_SENDERS_FILE": str(bad)}, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "sender 1 (name 'lab') addresses" in result.stderr
    assert "10.0.0.300" in result.stderr

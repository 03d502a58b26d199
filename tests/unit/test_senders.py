"""The senders file's rules (hub/inbound/senders.py) without sockets: matching by MSH-3/4,
peer (address, certificate, spool), type and privilege; the open mode; bounded metric labels;
a bad file named by entry."""
from __future__ import annotations

import pytest

from hub.errors import ConfigError
from hub.inbound.senders import OTHER, Certificate, SenderRules
from hub.inbound.senders_file import SenderEntry
from hub.inbound.sniff import sniff
from hub.settings import REPO_ROOT
from tests.fixtures.messages import adt_a31, adt_a40, dft_p03, encoded, oru_r01, patient

CNS_CERT = Certificate("CN=cns,O=CNS", "ab" * 32)
RULES = SenderRules((
    SenderEntry(name="cns", application="CNS", facility="*", certificate_fingerprints=("ab" * 32,),
                spool=True, types=("ADT^A31", "DFT^P03"),
                privileges=("declare_referent", "cns_prestations")),
    SenderEntry(name="lab", application="LABSYS", facility="CHL", addresses=("10.0.0.0/24",),
                types=("ORU^*", "ADT^A4*")),
))


def header(text: str):
    return sniff(encoded(text), supported_versions=frozenset({"2.5"}), identity_exempt=frozenset(),
                 authorities=frozenset()).header


def test_a_listed_sender_on_its_peer_sending_its_types_passes():
    assert RULES.judge(header(oru_r01(patient(1), "1")), "10.0.0.7:5000") is None
    assert RULES.judge(header(adt_a31(patient(1), "2", pd1="123456-78")), "9.9.9.9:1",
                       CNS_CERT) is None
    assert RULES.judge(header(dft_p03(patient(1), "3", [])), "cns-spool:feed.hl7") is None


@pytest.mark.parametrize("text, peer, certificate, reason", [
    (oru_r01(patient(1), "1").replace("LABSYS|CHL", "ZZZ|Y"), "10.0.0.7:1", None, "unknown_sender"),
    (oru_r01(patient(1), "1"), "10.0.1.7:1", None, "peer"),
    (oru_r01(patient(1), "1"), "cns-spool:f", None, "peer"),
    (adt_a31(patient(1), "2").replace("CNS|CNS", "CNS|EVILHOSP"), "10.0.0.7:1", None, "peer"),
    (adt_a31(patient(1), "2").replace("CNS|CNS", "LABSYS|CHL"), "10.0.0.7:1", None, "type"),
    (adt_a40(patient(1), patient(2), "4"), "10.0.0.7:1", None, "privilege"),
])
def test_refusals_are_ar_207_naming_the_rule(text, peer, certificate, reason):
    refusal = RULES.judge(header(text), peer, certificate)
    assert refusal is not None and refusal.reason == reason
    assert (refusal.rejection.ack_code, refusal.rejection.err_code) == ("AR", 207)
    assert patient(1).matricule not in refusal.rejection.text


def test_a_cns_declaration_is_read_only_from_entries_holding_the_privilege():
    assert RULES.declaring == ("CNS^*",)
    assert RULES.needed(header(adt_a31(patient(1), "2"))) == "declare_referent"
    hospital_a31 = adt_a31(patient(1), "2").replace("CNS|CNS", "LABSYS|CHL")
    assert RULES.needed(header(hospital_a31)) is None


def test_open_mode_takes_clinical_messages_from_anyone_and_no_privileged_one():
    rules = SenderRules.open(("CNS^*",))
    unknown = oru_r01(patient(1), "1").replace("LABSYS|CHL", "ZZZ|Y")
    assert rules.judge(header(unknown), "1.2.3.4:5") is None
    for text in (adt_a40(patient(1), patient(2), "4"), dft_p03(patient(1), "3", []),
                 adt_a31(patient(1), "2")):
        refusal = rules.judge(header(text), "127.0.0.1:5")
        assert refusal is not None and refusal.reason == "privilege"
    assert rules.label(header(unknown), "127.0.0.1:5") == OTHER


def test_labels_name_only_literal_entries_on_their_peers():
    oru = header(oru_r01(patient(1), "1"))
    assert RULES.label(oru, "10.0.0.7:1") == "LABSYS^CHL"
    assert RULES.label(oru, "10.0.9.7:1") == OTHER
    assert RULES.label(header(adt_a31(patient(1), "2")), "x", CNS_CERT) == OTHER  # a wildcard
    assert RULES.label(None, "10.0.0.7:1") == OTHER


@pytest.mark.parametrize("entry, named", [
    ('addresses = ["10.0.0.300"]\ntypes = ["ORU^R01"]', "addresses"),
    ('addresses = ["10.0.0.1"]\ntypes = ["ORU^R01"]\nprivileges = ["rule_all"]', "privileges"),
    ('types = ["ORU^R01"]', "names no peer"),
    ('certificate_fingerprints = ["zz"]\ntypes = ["ORU^R01"]', "certificate_fingerprints"),
])
def test_a_bad_entry_is_named(tmp_path, entry, named):
    path = tmp_path / "senders.toml"
    path.write_text(f'[[sender]]\nname = "ok"\napplication = "A"\nfacility = "B"\n'
                    f'addresses = ["10.0.0.1"]\ntypes = ["*"]\n\n'
                    f'[[sender]]\nname = "lab"\napplication = "LAB"\nfacility = "CHL"\n{entry}\n')
    with pytest.raises(ConfigError) as error:
        SenderRules.from_file(path)
    assert str(path) in str(error.value) and "sender 2 (name 'lab')" in str(error.value)
    assert named in str(error.value)


def test_the_shipped_file_loads():
    rules = SenderRules.from_file(REPO_ROOT / "config" / "senders.toml")
    assert not rules.is_open and rules.declaring == ("CNS^CNS",)


def test_verdicts_are_remembered_per_sender_type_address_and_certificate_never_across_them():
    # The listener remembers verdicts (judging costs globs and networks each message): the same
    # sender from an admitted then a refused address, with and without its certificate, and
    # another type, must each get their own verdict, and the port must not matter.
    rules = SenderRules((
        SenderEntry(name="lab", application="LABSYS", facility="CHL",
                    addresses=("10.0.0.0/24",), types=("ORU^*",)),
        SenderEntry(name="cns", application="CNS", facility="*",
                    certificate_fingerprints=("ab" * 32,), types=("DFT^P03",),
                    privileges=("cns_prestations",)),
    ))
    oru = header(oru_r01(patient(1), "1"))
    dft = header(dft_p03(patient(1), "3", []))
    for _ in range(2):  # the second pass answers from what was remembered
        assert rules.judge(oru, "10.0.0.7:5000") is None
        assert rules.judge(oru, "10.0.0.7:6000") is None
        assert rules.judge(oru, "10.0.1.7:5000").reason == "peer"
        assert rules.judge(dft, "9.9.9.9:1", CNS_CERT) is None
        assert rules.judge(dft, "9.9.9.9:1").reason == "peer"  # no certificate: not admitted
        assert rules.label(oru, "10.0.0.7:5000") == "LABSYS^CHL"
        assert rules.label(oru, "10.0.1.7:5000") == OTHER

"""The CNS feed's content through the real worker, on SQLite and PostgreSQL: référent
declarations from ADT^A31 (PD1-4 or ROL PP), the résumé patient clock (flagged overdue by the
job, satisfied only by the référent's MDM^T02), and DFT^P03 prestations summed in `hub dossier
show`; `hub dossier overdue --json` and `hub status --json` count what the store holds."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.broker.memory import MemoryBroker
from hub.cli.main import main
from hub.domain.models import MessageState
from hub.domain.resume import due_on, overdue_from
from hub.jobs.resume_clock import flag_overdue_resumes
from hub.metrics import Metrics
from hub.mapping.loader import load_mappings
from hub.routing.outcome import RoutingPolicy
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.messages import adt_a31, dft_p03, encoded, mdm_t02, patient
from tests.fixtures.routing import TOPOLOGY, receive

REFERENT, OTHER, DOCTOR = "123456-78", "223456-78", "323456-78"
PP = "PP^Primary care provider^HL70443"


@pytest.fixture
def store(database_url, tmp_path, monkeypatch):
    """The settings every `hub` call here reads, and a unit-of-work factory on the same store."""
    key_file = tmp_path / "keys.json"
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_KEY_FILE", str(key_file))
    monkeypatch.setenv("HUB_BROKER_URL", "memory://")
    monkeypatch.setenv("HUB_ENV_FILE", str(tmp_path / "none.env"))
    upgrade(database_url)
    engine = make_engine(database_url)
    keyring = Keyring.load_or_create(key_file)
    yield lambda: UnitOfWork(engine, keyring)
    engine.dispose()


@pytest.fixture
def feed(store):
    """feed(*texts): put HL7 texts through the real intake and worker, in order."""
    broker = MemoryBroker(TOPOLOGY)
    broker.declare_topology()
    worker = RoutingWorker(broker, TOPOLOGY, store, load_mappings(REPO_ROOT / "mappings"),
                           RoutingPolicy(), Metrics(), batch_size=10, batch_wait=0.01)

    def run(*texts: str) -> None:
        receive(broker, *(encoded(text) for text in texts))
        worker.drain()
    return run


def hub_json(capsys, *args: str):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def declarations(store, person):
    """Every declaration of `person`: (cns_code, since, until), oldest first; and the dossier id."""
    with store() as uow:
        pid = uow.patients.find(person.matricule)
        return [(d.cns_code, d.since, d.until) for d in uow.consents.referent_history(pid)], pid


def journal_actions(store, pid):
    with store() as uow:
        assert uow.audit.verify().ok
        return [(e.actor, e.action) for e in uow.audit.journal(pid) if e.action.startswith("ref")]


def test_a31_declares_the_referent_once_and_another_one_replaces_it(store, feed):
    person = patient(41)
    feed(adt_a31(person, "A31-1", pd1=REFERENT))
    [(code, since, until)], pid = declarations(store, person)
    assert (code, until) == (REFERENT, None)
    feed(adt_a31(person, "A31-2", pd1=REFERENT))          # the same référent again: unchanged
    assert declarations(store, person)[0] == [(REFERENT, since, None)]
    feed(adt_a31(person, "A31-3", rol=[f"AD|{PP}|{OTHER}^Muller^Anne"]))
    [first, second], _ = declarations(store, person)
    assert first[0] == REFERENT and first[2] == second[1]  # ended when the new one began
    assert second[0] == OTHER and second[2] is None
    assert journal_actions(store, pid) == [("cns-feed", "referent.declare"),
                                           ("cns-feed", "referent.end"),
                                           ("cns-feed", "referent.declare")]


def test_rol_de_ends_the_declaration_and_a_rol_end_date_ends_it_then(store, feed):
    person, dated = patient(42), patient(43)
    feed(adt_a31(person, "DE-1", rol=[f"AD|{PP}|{REFERENT}^Weber^Paul"]),
         adt_a31(person, "DE-2", rol=[f"DE|{PP}|{REFERENT}^Weber^Paul"]),
         adt_a31(dated, "DE-3", rol=[f"AD|{PP}|{REFERENT}^Weber^Paul|20250101|20250401"]))
    [(code, since, until)], pid = declarations(store, person)
    assert code == REFERENT and until is not None and until >= since
    with store() as uow:
        assert uow.consents.referent(pid, until + timedelta(seconds=1)) is None
    [(code, since, until)], dated_pid = declarations(store, dated)
    assert journal_actions(store, dated_pid) == [("cns-feed", "referent.declare"),
                                                 ("cns-feed", "referent.end")]
    assert (since.isoformat(), until.isoformat()) == ("2025-01-01T00:00:00+00:00",
                                                      "2025-04-01T00:00:00+00:00")


@pytest.mark.parametrize("segment, field", [("pd1", "PD1-4.1"), ("rol", "ROL-4.1"),
                                            ("date", "ROL-5")])
def test_an_unreadable_declaration_parks_the_message_naming_the_field(store, feed, segment,
                                                                      field):
    person = patient(44)
    text = {"pd1": adt_a31(person, "BAD-1", pd1="9876543"),
            "rol": adt_a31(person, "BAD-1", rol=[f"AD|{PP}|12-34^Weber^Paul"]),
            "date": adt_a31(person, "BAD-1", rol=[f"AD|{PP}|{REFERENT}^Weber^Paul|2025-13"])}
    feed(text[segment])
    with store() as uow:
        [message] = uow.messages.search(state=MessageState.PARKED.value)
        assert uow.patients.find(person.matricule) is None  # nothing filed for the patient
    assert field in message.reason
    assert "9876543" not in message.reason and "12-34" not in message.reason


def test_the_clock_flags_an_overdue_resume_until_the_referent_sends_one(store, feed, capsys):
    # Declared (ROL-5) 93 days ago, so that the job's clock, the feed's and `hub`'s agree: a
    # résumé received now comes after the flag.
    person = patient(45)
    begins = (datetime.now(UTC) - timedelta(days=93)).strftime("%Y%m%d")
    feed(adt_a31(person, "CLK-1", rol=[f"AD|{PP}|{REFERENT}^Weber^Paul|{begins}"]))
    [(_, since, _)], _ = declarations(store, person)
    assert flag_overdue_resumes(store, lambda: since + timedelta(days=80), 3, 12) == 0
    assert hub_json(capsys, "status")["resumes"] == {"overdue": 0, "due": 1}
    later = datetime.now(UTC)
    assert flag_overdue_resumes(store, lambda: later, 3, 12) == 1
    assert flag_overdue_resumes(store, lambda: later, 3, 12) == 0   # flagged once
    [row] = hub_json(capsys, "dossier", "overdue")
    assert row == {"matricule": person.matricule, "referent": REFERENT,
                   "declared_at": since.isoformat(), "last_resume_at": None,
                   "due_on": due_on(since, 3).isoformat(),
                   "due_at": overdue_from(since, 3).isoformat(),
                   "flagged_at": later.isoformat()}
    assert hub_json(capsys, "status")["resumes"] == {"overdue": 1, "due": 0}

    feed(mdm_t02(person, "SUM-1", author=OTHER))                       # not the référent
    feed(mdm_t02(person, "SUM-2", author=REFERENT, document_type="11488-4^Consult note^LN"))
    assert len(hub_json(capsys, "dossier", "overdue")) == 1
    feed(mdm_t02(person, "SUM-3", author=REFERENT))                    # the référent's résumé
    assert hub_json(capsys, "dossier", "overdue") == []
    assert hub_json(capsys, "status")["resumes"] == {"overdue": 0, "due": 0}
    # Régulièrement actualisé: the update is due twelve months after that résumé.
    assert flag_overdue_resumes(store, lambda: later + timedelta(days=360), 3, 12) == 0
    assert flag_overdue_resumes(store, lambda: later + timedelta(days=400), 3, 12) == 1
    [row] = hub_json(capsys, "dossier", "overdue")
    assert row["last_resume_at"] is not None and row["due_on"] > row["declared_at"][:10]


def test_a_resume_in_time_means_never_overdue_and_a_new_referent_restarts_the_clock(store, feed):
    person = patient(46)
    feed(adt_a31(person, "T-1", pd1=REFERENT), mdm_t02(person, "T-2", author=REFERENT))
    [(_, since, _)], _ = declarations(store, person)
    assert flag_overdue_resumes(store, lambda: since + timedelta(days=200), 3, 12) == 0
    feed(adt_a31(person, "T-3", pd1=OTHER))  # the previous référent's résumé does not count
    [_, (_, other_since, _)], _ = declarations(store, person)
    assert flag_overdue_resumes(store, lambda: other_since + timedelta(days=100), 3, 12) == 1


def test_prestations_become_the_cns_summary_of_dossier_show(store, feed, capsys):
    person = patient(47)
    feed(dft_p03(person, "DFT-1", [("20250310", "CG", "C1", 52.3, DOCTOR),
                                   ("20250612", "CG", "C2", 40, DOCTOR),
                                   ("20250612", "CD", "C2", -40, DOCTOR),
                                   ("20241120", "CG", "V1", "", DOCTOR)]))
    shown = hub_json(capsys, "dossier", "show", person.matricule)
    prestations = [e for e in shown["entries"] if e["kind"] == "prestation"]
    assert [(e["date"], e["code"], e.get("amount")) for e in prestations] == [
        ("2025-03-10", "C1", 52.3), ("2025-06-12", "C2", 40), ("2025-06-12", "C2", -40),
        ("2024-11-20", "V1", None)]
    assert prestations[0]["provider"]["cns_code"] == DOCTOR
    assert shown["cns_summary"] == [
        {"year": "2025", "kind": "charge", "count": 2, "amount": 92.3, "currency": "EUR"},
        {"year": "2025", "kind": "credit", "count": 1, "amount": -40, "currency": "EUR"},
        {"year": "2024", "kind": "charge", "count": 1, "amount": 0}]

    with store() as uow:  # a doctor with a grant; the patient hid the 2024 prestation
        from datetime import UTC, datetime
        from hub.domain.professional import Professional
        pid = uow.patients.find(person.matricule)
        uow.professionals.upsert(Professional(DOCTOR, "Weber", "Paul", "GP"))
        uow.consents.grant(pid, DOCTOR, "normal", None, datetime.now(UTC) - timedelta(minutes=1))
        hidden = [e.id for e in uow.entries.for_patient(pid) if e.payload.get("code") == "V1"]
        uow.entries.set_hidden(hidden[0], True)
        uow.commit()
    seen = hub_json(capsys, "dossier", "show", person.matricule, "--as", DOCTOR)
    assert [r["year"] for r in seen["cns_summary"]] == ["2025", "2025"]
    assert main(["dossier", "show", person.matricule]) == 0
    assert "CNS summary" in capsys.readouterr().out

"""`hub journal` and `hub audit verify` as scripts and people use them: real `hub` processes on
real RabbitMQ, SQLite and PostgreSQL; tampering done with raw SQL behind the hub's back."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.messages import encoded, oru_r01, patient

JOURNAL_KEYS = {"at", "actor", "action", "entry", "outcome", "reason"}


def close_dossier(env, matricule: str) -> None:
    """Close a dossier through the store, with the hub's own key file and database."""
    url = env.env["HUB_DATABASE_URL"]
    upgrade(url)
    engine = make_engine(url)
    try:
        with UnitOfWork(engine, Keyring.load_or_create(Path(env.env["HUB_KEY_FILE"]))) as uow:
            uow.patients.set_closed(uow.patients.id_for(matricule), True)
            uow.commit()
    finally:
        engine.dispose()


def raw_sql(env, statement: str) -> None:
    engine = make_engine(env.env["HUB_DATABASE_URL"])
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def test_a_discarded_message_is_in_the_journal_and_tampering_is_found(hub_env):
    person = patient(21)
    close_dossier(hub_env, person.matricule)
    hub_env.start()

    acks = send_with_python_hl7(hub_env.mllp_port, [encoded(oru_r01(person, "SHUT-1")),
                                                    encoded(oru_r01(person, "SHUT-2"))])

    assert [a.code for a in acks] == ["AA", "AA"]  # the sender did nothing wrong
    assert hub_env.wait_until(
        lambda: len(hub_env.hub_json("journal", person.matricule)) == 2), hub_env.logs()
    journal = hub_env.hub_json("journal", person.matricule)
    assert all(JOURNAL_KEYS <= set(line) for line in journal)
    assert [(line["actor"], line["action"], line["entry"], line["outcome"], line["reason"])
            for line in journal] == [("hub", "message.discarded", None, "ok",
                                      "dossier closed by the patient")] * 2
    discarded = {m["id"] for m in hub_env.hub_json("messages", "--state", "discarded")}
    assert {line["message"] for line in journal} == discarded
    assert journal[0]["at"] <= journal[1]["at"] and journal[0]["at"].endswith("+00:00")
    table = hub_env.hub("journal", person.matricule).stdout
    assert "message.discarded" in table and person.matricule not in table

    intact = hub_env.hub("audit", "verify")
    assert intact.stdout.splitlines()[0] == "audit chain intact: 2 events"
    assert hub_env.hub_json("audit", "verify")["ok"] is True

    raw_sql(hub_env, "UPDATE audit_events SET reason = 'delivered' WHERE seq = 2")
    broken = hub_env.hub("audit", "verify", check=False)
    assert broken.returncode == 1
    assert broken.stderr.startswith("hub: audit chain broken at event 2: ")
    assert len(broken.stderr.splitlines()) == 1 and "Traceback" not in broken.stderr
    document = hub_env.hub("audit", "verify", "--json", check=False)
    assert document.returncode == 1
    assert '"first_broken_seq": 2' in document.stdout and '"ok": false' in document.stdout


def test_a_deleted_event_fails_verify_naming_it(hub_env):
    person = patient(22)
    close_dossier(hub_env, person.matricule)
    hub_env.start()
    send_with_python_hl7(hub_env.mllp_port,
                         [encoded(oru_r01(person, f"GONE-{n}")) for n in range(3)])
    assert hub_env.wait_until(lambda: hub_env.hub_json("audit", "verify")["checked"] == 3)

    raw_sql(hub_env, "DELETE FROM audit_events WHERE seq = 2")

    broken = hub_env.hub("audit", "verify", check=False)
    assert broken.returncode == 1
    assert broken.stderr.strip() == ("hub: audit chain broken at event 2: event 2 is missing "
                                     "(after event 1 comes event 3) (1 events before it intact)")
    # The patient's journal still reads (what is left of it).
    assert len(hub_env.hub_json("journal", person.matricule)) == 2


def test_a_fresh_hub_answers_without_error(hub_env):
    hub_env.create_database()
    result = hub_env.hub("audit", "verify")
    assert result.stdout.strip() == "audit chain intact: 0 events"
    close_dossier(hub_env, patient(23).matricule)
    assert hub_env.hub_json("journal", patient(23).matricule) == []


def test_an_unknown_or_invalid_matricule_is_one_line_and_exit_1(hub_env):
    hub_env.create_database()
    unknown = hub_env.hub("journal", "1893120105732", check=False)
    assert (unknown.returncode, unknown.stderr) == (1, "hub: no dossier for this matricule\n")
    invalid = hub_env.hub("journal", "1893120105733", "--json", check=False)
    assert invalid.returncode == 1 and invalid.stdout == ""
    assert "check digit" in invalid.stderr.lower() and "1893120105733" not in invalid.stderr

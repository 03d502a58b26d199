"""One person, two forms of the matricule: a legacy 11-digit number and its 13-digit successor.
A message carrying both links their dossiers; `[identity] link_legacy_forms` makes them one
keyed hash and `link_all_legacy` merges the dossiers made before; `hub patient link` is the
operator's word. Each link is a `patient.merged` event in both journals. Two different
matricules in one PID-3 are refused and nothing is stored. On SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace

from hub.domain.models import MessageState
from hub.routing.legacy_link import link_all_legacy
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.matricules import legacy_matricule, reference_matricule
from tests.fixtures.messages import adt_a01, encoded, oru_r01, patient
from tests.fixtures.routing import broker, receive, worker  # noqa: F401 - fixtures
from tests.fixtures.acks import read_ack

LEGACY = legacy_matricule("1961070412")
CURRENT = reference_matricule(LEGACY)          # its successor: the same 11 digits + check digits
OLD_FORM = replace(patient(61), matricule=LEGACY)
NEW_FORM = replace(patient(61), matricule=CURRENT)


def _both(text: str) -> str:
    return text.replace(f"{CURRENT}^^^CNS^NN", f"{LEGACY}^^^CNS^NN~{CURRENT}^^^CNS^NN")


def _file(broker, worker, *texts: str) -> list[bytes]:
    acks = receive(broker, *(encoded(t) for t in texts))
    worker.drain()
    return acks


def _merges(uow, patient_id):
    return [(e.actor, e.reason) for e in uow.audit.journal(patient_id)
            if e.action == "patient.merged"]


def test_a_message_carrying_both_forms_makes_one_dossier_journaled_in_both(
        broker, worker, uow_factory):
    _file(broker, worker, oru_r01(OLD_FORM, "OLD-1", n_obx=2), oru_r01(NEW_FORM, "NEW-1", n_obx=3))
    with uow_factory() as uow:
        old_id, new_id = uow.patients.find(LEGACY), uow.patients.find(CURRENT)
    assert old_id != new_id  # two forms, no link yet: two dossiers

    [ack] = _file(broker, worker, _both(adt_a01(NEW_FORM, "BOTH-1")))
    _file(broker, worker, oru_r01(OLD_FORM, "OLD-2", n_obx=1))

    assert b"MSA|AA|BOTH-1" in ack
    with uow_factory() as uow:
        assert uow.audit.verify().ok
        assert uow.patients.id_for(LEGACY) == new_id and uow.patients.merged_into(old_id) == new_id
        kinds = sorted(e.kind for e in uow.entries.for_patient(new_id))
        assert kinds == ["encounter"] + ["lab_result"] * 6
        assert uow.entries.for_patient(old_id) == []
        [(actor, reason)] = _merges(uow, old_id)
        assert (actor, reason) == ("hub", "legacy matricule (both forms in PID-3): 2 entries "
                                          f"moved into dossier {new_id}")
        assert _merges(uow, new_id) == [("hub", "legacy matricule (both forms in PID-3): 2 "
                                                f"entries moved from dossier {old_id}")]
    _file(broker, worker, _both(adt_a01(NEW_FORM, "BOTH-2")))  # linked already: no second event
    with uow_factory() as uow:
        assert len(_merges(uow, new_id)) == 1


def test_two_different_matricules_in_pid_3_are_refused_and_nothing_is_stored(
        broker, worker, uow_factory):
    other = patient(62).matricule
    text = oru_r01(NEW_FORM, "TWO-1").replace(f"{CURRENT}^^^CNS^NN",
                                               f"{CURRENT}^^^CNS^NN~{other}^^^CNS^NN")
    [ack] = _file(broker, worker, text)

    parsed = read_ack(ack)
    assert (parsed.code, parsed.control_id, parsed.err_code, parsed.err_location) == (
        "AE", "TWO-1", "102", "PID^1^3")
    assert "two different matricules" in parsed.text
    with uow_factory() as uow:
        assert [m.state for m in uow.messages.search()] == [MessageState.REJECTED]
        assert uow.patients.find(CURRENT) is None and uow.patients.find(other) is None


def test_link_legacy_forms_keys_both_forms_to_one_dossier_and_links_the_older_ones(
        engine, keyring):
    apart = lambda: UnitOfWork(engine, keyring)                      # noqa: E731
    linked = lambda: UnitOfWork(engine, keyring, link_legacy=True)   # noqa: E731
    with apart() as uow:  # made before the setting was turned on: a legacy dossier of its own
        old_id = uow.patients.id_for(LEGACY)
        uow.commit()
    with linked() as uow:
        new_id = uow.patients.id_for(LEGACY)
        assert new_id != old_id
        assert uow.patients.id_for(CURRENT) == new_id == uow.patients.find(CURRENT)
        assert uow.patients.get(new_id).matricule == CURRENT
        merges = link_all_legacy(uow)
        assert [(m.merged_id, m.survivor_id) for m in merges] == [(old_id, new_id)]
        assert link_all_legacy(uow) == []
        uow.commit()
    with apart() as uow:
        assert uow.patients.id_for(LEGACY) == new_id
        assert [r for _, r in _merges(uow, old_id)] == [
            f"legacy matricule (link_legacy_forms): 0 entries moved into dossier {new_id}"]


def test_hub_patient_link_is_the_operators_word_journaled_in_both(
        tmp_path, database_url, uow_factory):
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.env["HUB_KEY_FILE"] = str(tmp_path / "keys" / "hub-keys.json")  # the fixture keyring's
    with uow_factory() as uow:
        old_id = uow.patients.id_for(LEGACY)
        uow.commit()

    done = env.hub_json("patient", "link", LEGACY, CURRENT)
    again = env.hub("patient", "link", LEGACY, CURRENT)
    wrong = env.hub("patient", "link", CURRENT, LEGACY, check=False)
    refused = env.hub("patient", "link", "--all-legacy", check=False)

    with uow_factory() as uow:
        new_id = uow.patients.find(CURRENT)
        assert done == {"linked": [{"merged": old_id, "into": new_id, "entries_moved": 0}]}
        assert [a for a, _ in _merges(uow, old_id)] == ["operator"]
        assert [a for a, _ in _merges(uow, new_id)] == ["operator"]
    assert again.stdout == "nothing to link: already one dossier\n"
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == "hub: patient link: LEGACY must be an 11-digit (legacy) matricule\n"
    assert refused.returncode == 2 and "link_legacy_forms" in refused.stderr
    assert LEGACY not in done.__repr__() and CURRENT not in again.stdout

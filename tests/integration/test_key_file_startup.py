"""The key file at start, on real SQLite and PostgreSQL: a fresh install creates it, and a command
that finds none while another one starting beside it creates it and writes rows adopts that
file instead of stopping (it did stop once, exit 2, in CI: `hub serve` beside a first `hub
consent grant`)."""
from __future__ import annotations

import pytest

import hub.bootstrap
from hub.bootstrap import Hub
from hub.settings import load_settings

MATRICULE = "1893120105732"


@pytest.fixture
def settings(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_BROKER_URL", "memory://")
    monkeypatch.setenv("HUB_KEY_FILE", str(tmp_path / "keys" / "hub.json"))
    monkeypatch.setenv("HUB_ENV_FILE", str(tmp_path / "none.env"))
    Hub(load_settings()).upgrade_database()
    return load_settings()


def file_a_patient(settings) -> str:
    """What a first `hub consent grant` does: make the key file, then write a dossier row."""
    other = Hub(settings)
    try:
        with other.unit_of_work() as uow:
            patient_id = uow.patients.id_for(MATRICULE)
            uow.commit()
            return patient_id
    finally:
        other.close()


def test_a_key_file_made_by_a_command_starting_beside_this_one_is_adopted(settings, monkeypatch):
    real_look = hub.bootstrap.holds_encrypted_rows

    def look_while_another_command_starts(engine):
        monkeypatch.setattr(hub.bootstrap, "holds_encrypted_rows", real_look)  # for the other
        file_a_patient(settings)  # between this hub's look at the key file and at the rows
        return real_look(engine)

    monkeypatch.setattr(hub.bootstrap, "holds_encrypted_rows", look_while_another_command_starts)
    late = Hub(settings)
    try:
        with late.unit_of_work() as uow:
            assert uow.patients.find(MATRICULE) is not None  # the other command's key reads it
    finally:
        late.close()


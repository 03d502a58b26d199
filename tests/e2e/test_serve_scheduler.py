"""`hub serve --role scheduler` as a real process: it needs only the database (memory:// is fine),
flags at start a référent declaration whose résumé patient is overdue, so that `hub dossier
overdue` lists it, and stops cleanly on SIGTERM."""
import signal
from datetime import UTC, datetime, timedelta

from hub.bootstrap import Hub
from hub.settings import load_settings
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import patient

REFERENT = "123456-78"


def declare(env: HubEnv, person, days_ago: int) -> None:
    hub = Hub(load_settings(database_url=env.env["HUB_DATABASE_URL"],
                            key_file=env.env["HUB_KEY_FILE"], broker_url="memory://"))
    try:
        hub.upgrade_database()
        with hub.unit_of_work() as uow:
            pid = uow.patients.id_for(person.matricule)
            uow.consents.declare_referent(pid, REFERENT,
                                          datetime.now(UTC) - timedelta(days=days_ago), "test")
            uow.commit()
    finally:
        hub.close()


def test_the_scheduler_role_flags_overdue_resumes_and_stops_on_sigterm(memory_env):
    late, recent = patient(61), patient(62)
    declare(memory_env, late, days_ago=100)
    declare(memory_env, recent, days_ago=10)
    assert memory_env.hub_json("dossier", "overdue") == []
    process = memory_env.start(role="scheduler", wait=False)
    listed = memory_env.wait_until(lambda: memory_env.hub_json("dossier", "overdue"), timeout=30)
    assert [row["matricule"] for row in listed] == [late.matricule], memory_env.logs()
    assert memory_env.hub_json("status")["resumes"] == {"overdue": 1, "due": 1}
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, memory_env.logs()
    logs = memory_env.logs()
    assert "scheduler started: resume-overdue" in logs and "hub stopped" in logs
    assert "routing worker" not in logs and "MLLP" not in logs and "Traceback" not in logs
    assert late.matricule not in logs and late.family_name not in logs

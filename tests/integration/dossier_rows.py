"""A few dossiers written through the store (patients, messages, entries, deliveries) for the
scheduler jobs' tests: every encrypted column has rows."""
from datetime import UTC, datetime

from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState, Patient
from hub.store.tables import new_id
from tests.fixtures.messages import patient

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def write_dossiers(uow_factory, count: int = 3, *, received_at: datetime = T0,
                   state: MessageState = MessageState.STORED, first: int = 1) -> list[dict]:
    """`count` dossiers (synthetic patients `first`, `first + 1`, …) with one message, one
    entry and one delivery each; what was written, in clear, for the test to compare with what
    reads back."""
    written = []
    with uow_factory() as uow:
        for n in range(count):
            matricule = patient(first + n).matricule
            patient_id = uow.patients.id_for(matricule)
            uow.patients.save_demographics(patient_id, Patient(matricule, f"Weber-{n}", "Léa",
                                                               "1980-01-01", "F"))
            control_id = f"C{first + n}"  # one stored message per sender and MSH-10
            raw = (f"MSH|^~\\&|LAB|ACME|DSP|HUB|20260301||ORU^R01|{control_id}|P|2.5\r"
                   f"PID|||{matricule}\r")
            message = MessageRecord(new_id(), "LAB^ACME", control_id, "ORU^R01", "2.5", state,
                                    received_at, patient_id=patient_id)
            uow.messages.add(message, raw.encode())
            entry_id = uow.entries.add(patient_id, message.id, 0, Entry(
                "lab_result", {"value": f"{n}.5"}, Confidentiality.NORMAL, None))
            delivery = uow.deliveries.add(
                message_id=message.id, patient_id=patient_id, recipient="123456-78",
                destination="127.0.0.1:1", control_id=f"D{n}", payload=f"OUT{n}".encode(),
                entry_id=entry_id, now=received_at)
            written.append({"patient_id": patient_id, "family_name": f"Weber-{n}",
                            "message_id": message.id, "raw": raw.encode(),
                            "entry_value": f"{n}.5", "delivery_id": delivery.id,
                            "payload": f"OUT{n}".encode()})
        uow.commit()
    return written


def assert_all_decrypt(uow_factory, written: list[dict]) -> None:
    """Every encrypted value written reads back as it was."""
    with uow_factory() as uow:
        for w in written:
            assert uow.patients.get(w["patient_id"]).family_name == w["family_name"]
            assert uow.messages.raw(w["message_id"]) == w["raw"]
            assert [e.payload["value"] for e in uow.entries.for_patient(w["patient_id"])] \
                == [w["entry_value"]]
            assert uow.deliveries.payload(w["delivery_id"]) == w["payload"]

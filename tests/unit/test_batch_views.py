"""The views a batch gives the consent re-check and the journal: shared reads answered once,
audit events appended together and in order."""
from types import SimpleNamespace

from hub.outbound.batch_views import JournalView, RecheckView


class Counting:
    """A repository stand-in that answers with its call and counts the calls."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, args))
            return (name, args)
        return call


def uow():
    deliveries = SimpleNamespace(entry_views=lambda ids: {i: [f"view of {i}"] for i in ids})
    return SimpleNamespace(consents=Counting(), professionals=Counting(), entries=Counting(),
                           deliveries=deliveries, messages="the messages")


def test_consent_state_and_registry_are_read_once_per_argument():
    real = uow()
    view = RecheckView(real, [SimpleNamespace(message_id="m1")])
    for _ in range(3):
        assert view.consents.state("p1", "t", False) == ("state", ("p1", "t", False))
        assert view.professionals.get("234561-07") == ("get", ("234561-07",))
    view.consents.state("p2", "t", False)
    view.consents.grants("p1")  # not shared: asked each time
    view.consents.grants("p1")
    assert real.consents.calls == [("state", ("p1", "t", False)), ("state", ("p2", "t", False)),
                                   ("grants", ("p1",)), ("grants", ("p1",))]
    assert real.professionals.calls == [("get", ("234561-07",))]
    assert view.messages == "the messages"


def test_entry_views_of_the_batch_come_from_one_read():
    real = uow()
    view = RecheckView(real, [SimpleNamespace(message_id=m) for m in ("m1", "m2", "m1")])
    assert view.entries.views_for_message("m2") == ["view of m2"]
    assert view.entries.views_for_message("m1") == ["view of m1"]
    assert real.entries.calls == []
    view.entries.views_for_message("m3")  # not of the batch: read as usual
    assert real.entries.calls == [("views_for_message", ("m3",))]


def test_journal_events_are_appended_in_order_when_flushed():
    appended = []
    audit = SimpleNamespace(record_many=lambda events: appended.append(list(events)),
                            journal=lambda patient_id: "read through")
    view = JournalView(SimpleNamespace(audit=audit, deliveries="the deliveries"))
    assert view.audit.record("e1") == "e1" and view.audit.record("e2") == "e2"
    assert appended == [] and view.deliveries == "the deliveries"
    assert view.audit.journal("p1") == "read through"
    view.flush()
    assert appended == [["e1", "e2"]]

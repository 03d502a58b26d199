"""The views a batch gives the consent re-check and the journal: shared reads answered once,
audit events appended together and in order."""
from types import SimpleNamespace

from hub.outbound.batch_views import JournalView, RecheckView


class Counting:
    """A repository stand-in that answers with its call and counts the calls; `states`
    answers each patient id with its own `state` answer."""

    def __init__(self):
        self.calls = []

    def states(self, ids, *args):
        self.calls.append(("states", (list(ids), *args)))
        return {i: ("state", (i, *args)) for i in ids}

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, args))
            return (name, args)
        return call


def uow():
    deliveries = SimpleNamespace(entry_views=lambda ids: {i: [f"view of {i}"] for i in ids})
    return SimpleNamespace(consents=Counting(), professionals=Counting(), entries=Counting(),
                           deliveries=deliveries, messages="the messages")


def batch(*pairs):
    return [SimpleNamespace(message_id=m, patient_id=p) for m, p in pairs]


def test_consent_state_and_registry_are_read_once_per_argument():
    real = uow()
    view = RecheckView(real, batch(("m1", "p1")))
    for _ in range(3):
        assert view.consents.state("p1", "t", False) == ("state", ("p1", "t", False))
        assert view.professionals.get("234561-07") == ("get", ("234561-07",))
    view.consents.state("p2", "t", False)
    view.consents.grants("p1")  # not shared: asked each time
    view.consents.grants("p1")
    assert real.consents.calls == [("states", (["p1"], "t", False)),
                                   ("states", (["p2"], "t", False)),
                                   ("grants", ("p1",)), ("grants", ("p1",))]
    assert real.professionals.calls == [("get", ("234561-07",))]
    assert view.messages == "the messages"


def test_entry_views_of_the_batch_come_from_one_read():
    real = uow()
    view = RecheckView(real, batch(("m1", "p1"), ("m2", "p1"), ("m1", "p1")))
    assert view.entries.views_for_message("m2") == ["view of m2"]
    assert view.entries.views_for_message("m1") == ["view of m1"]
    assert real.entries.calls == []
    view.entries.views_for_message("m3")  # not of the batch: read as usual
    assert real.entries.calls == [("views_for_message", ("m3",))]


def test_the_consent_of_every_patient_of_the_batch_comes_from_one_read():
    real = uow()
    view = RecheckView(real, batch(("m1", "p1"), ("m2", "p2"), ("m3", "p1"), ("m4", "p3")))
    assert [view.consents.state(p, "t", True) for p in ("p2", "p1", "p3", "p2")] == [
        ("state", (p, "t", True)) for p in ("p2", "p1", "p3", "p2")]
    assert real.consents.calls == [("states", (["p2", "p1", "p3"], "t", True))]
    view.consents.state("p1", "later", True)  # another instant: read again, with the rest
    assert real.consents.calls[1:] == [("states", (["p1", "p2", "p3"], "later", True))]


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

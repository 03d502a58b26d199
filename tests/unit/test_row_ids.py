"""Row ids and the listener's message ids: hub.ids.new_id builds uuid4 hex without a UUID object
(it is on the worker's and the listener's hot paths), and new_ids a batch of them from one read
of randomness; what they give must still be what uuid.uuid4().hex gives."""
from __future__ import annotations

import uuid

import pytest

from hub.ids import new_id, new_ids


MAKERS = {"one by one": lambda count: [new_id() for _ in range(count)],
          "in a batch": new_ids, "in small batches": lambda count: [
              id for _ in range(count // 5) for id in new_ids(5)]}


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS)
def test_new_ids_are_uuid4_hex_and_distinct(make):
    ids = make(5000)
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS)
def test_the_random_bits_vary_everywhere_but_version_and_variant(make):
    # Every hex digit but the version's (index 12) and the variant's (index 16, 8 to b)
    # takes several values over a few hundred ids: nothing else is fixed.
    ids = make(500)
    for index in range(32):
        digits = {value[index] for value in ids}
        if index == 12:
            assert digits == {"4"}
        elif index == 16:
            assert digits <= set("89ab") and len(digits) > 1
        else:
            assert len(digits) > 8


def test_a_batch_of_none_is_empty():
    assert new_ids(0) == []

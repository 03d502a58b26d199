"""Row ids and the listener's message ids: hub.ids.new_id builds uuid4 hex without a UUID object
(it is on the worker's and the listener's hot paths); what it gives must still be what
uuid.uuid4().hex gives."""
from __future__ import annotations

import uuid

from hub.ids import new_id


def test_new_ids_are_uuid4_hex_and_distinct():
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)


def test_the_random_bits_vary_everywhere_but_version_and_variant():
    # Every hex digit but the version's (index 12) and the variant's (index 16, 8 to b)
    # takes several values over a few hundred ids: nothing else is fixed.
    ids = [new_id() for _ in range(500)]
    for index in range(32):
        digits = {value[index] for value in ids}
        if index == 12:
            assert digits == {"4"}
        elif index == 16:
            assert digits <= set("89ab") and len(digits) > 1
        else:
            assert len(digits) > 8

"""Python's cyclic garbage collector, set for a long-running hub process.

With CPython's defaults (a young collection every 700 net allocations of container objects) a
worker filing a batch of 50 parsed ORU^R01s ran hundreds of collections a batch, each walking
the batch's live objects and, every hundredth, everything the process built at start-up
(mappings, compiled statements, tables): about 110 µs of a worker's CPU per message
(issue 16). The hub makes few reference cycles (its objects die by reference counting), so:
what exists once the process has started is frozen (never walked again: it lives as long as
the process), and a young collection waits for 10,000 allocations. Cyclic garbage is then
freed a little later, never leaked: a few MB at most wait for the next collection."""
from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # CPython's default is 700; the older generations keep theirs


def settle() -> None:
    """Once start-up is over: freeze what it built, and collect the young less often."""
    gc.collect()  # start-up's own garbage is not frozen with it
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)

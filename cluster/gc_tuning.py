"""The garbage collector's settings for the processes on the purchase path.

CPython starts a young collection every 700 net allocations of container objects. A
replica with 64 purchases in flight crossed that every few milliseconds: under the
benchmark it ran ~220 collections a second, each promoting the objects of the requests
in flight to the older generations, whose full collections (~12 ms, about twice a
second) stalled every request in the replica at once. Almost all of a request's objects
are freed by reference counting when it is answered, so a young threshold of 20,000
lets them die before any collection sees them (a handful of collections per benchmark
run). In the benchmark: trivial requests +12 %, purchases +5-8 % a second, purchase p99
down (docs/design.md, "Third round").

``gc.freeze`` moves what start-up built (modules, the app, Ray's own objects: ~150,000
in a replica) out of the collector's sight for good, so the rare full collection only
walks what was made since.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Call once a process has built what it keeps for life."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)

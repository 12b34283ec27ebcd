"""The garbage collector's settings for long-running idflow processes.

CPython's cyclic collector stops every thread of the process while it runs. Its
full collections walk every tracked object, and a server has more than a hundred
thousand of them after start-up: modules, classes, functions, SQLAlchemy's
compiled statements, pydantic's validators. Under load it also ran often, since
each request leaves short-lived containers behind that push it along.

Measured on `idflow serve` under wrk (decide workload, concurrency 32, SQLite),
with the collector's own callbacks timing each pass (bench/RESULTS.md):

- as CPython sets it: 17 full collections in 13 s, 1.0 s in all, up to 90 ms
  each, which was the whole p99 (84 ms, against a p50 of 12 ms);
- with the start-up objects frozen and the youngest generation's threshold at
  20,000: 3 full collections, and a p99 of 17 to 22 ms; throughput went from
  2,175 and 2,347 to between 2,490 and 3,588 runs/s over the runs taken.

Nothing else changes: every object made after start-up is collected as before,
only less often and without rescanning what start-up made and will keep.
"""

from __future__ import annotations

import gc

# Container objects allocated, less those freed, before a young collection.
# CPython's 700 suits short scripts; at thousands of requests a second it ran
# a young collection every few requests. The older generations keep theirs.
YOUNG_THRESHOLD = 20_000


def settle_after_start_up() -> None:
    """Freeze what start-up made, and collect young objects less often.

    Call it once the process has built what it keeps for its lifetime (the
    runtime, the app, the caches it warms), just before serving.
    """
    gc.collect()
    # Moved to a permanent generation: never scanned, never freed, as they
    # would not have been anyway.
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)

"""Python's cyclic garbage collector, set for a long-running server.

With CPython's defaults a generation-0 collection runs after every 700 new container objects,
and every tenth of those also walks generation 1; a large PROPFIND, which makes and drops
tens of thousands of short-lived objects, then spends about a tenth of its time in the
collector walking objects that are not garbage (the application itself, kept listings).
Measured in-process on a 10,000-file listing (12 interleaved rounds): median 0.228 s with the
defaults, 0.208 s with a generation-0 threshold of 10,000, 0.201 s with the collector off.

``tune_for_serving`` is called once the application is built: what exists then (modules,
settings, the application) is moved out of the collector's sight (``gc.freeze``), and
generation 0 is collected after :data:`GEN0_THRESHOLD` new objects. Cycles are still found;
the garbage they hold can only grow by about that many objects before they are.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["GEN0_THRESHOLD", "tune_for_serving"]

GEN0_THRESHOLD: Final = 10_000


def tune_for_serving() -> None:
    """Collect once, freeze what survives, and raise the generation-0 threshold (the older
    generations keep theirs)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)

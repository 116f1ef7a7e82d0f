"""Settings shared by the fuzz targets: a few examples in ``make test``, many in ``make fuzz``.

``DAVSYNC_FUZZ_EXAMPLES`` (set by ``make fuzz``) raises the number of examples of every target.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("DAVSYNC_FUZZ_EXAMPLES", "0") or 0)


def fuzz_settings(quick: int) -> settings:
    """Hypothesis settings: ``quick`` examples normally, ``DAVSYNC_FUZZ_EXAMPLES`` in a fuzz run."""
    return settings(
        max_examples=EXAMPLES or quick,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )

"""Budgets for the property-based tests: a small one in `make test`, a long one in `make fuzz`.

`IRP_FUZZ_EXAMPLES` (unset: each test's own small default) sets how many examples every
Hypothesis test here tries; `make fuzz` sets it high and prints Hypothesis's statistics, which say
how many examples each property ran. No deadline: timings are never asserted."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("IRP_FUZZ_EXAMPLES", "").strip()


def budget(small: int) -> settings:
    """Hypothesis settings for one property: `small` examples in `make test`, IRP_FUZZ_EXAMPLES
    under `make fuzz`. Fixtures are shared across examples on purpose (one dev server, one
    worker), so the function-scoped-fixture check is off; examples may be slow (real servers)."""
    return settings(
        max_examples=int(LONG) if LONG else small,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
        derandomize=not LONG,  # `make test` tries the same examples every run; `make fuzz` new ones
        print_blob=True,
    )

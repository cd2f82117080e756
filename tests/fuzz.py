"""How long the property tests search, in one place: every Hypothesis test here takes its budget
from `fuzzed`, so `make test` runs a small one and `make fuzz` runs the same tests long.

    from hypothesis import given
    from tests.fuzz import fuzzed

    @fuzzed(30)                 # 30 examples in `make test` (the dev server is real: keep it cheap)
    @given(payload=...)
    async def test_something(receiver, payload): ...

- `IRP_FUZZ_EXAMPLES` (unset in `make test`) is the budget of every property in a long run: `make
  fuzz` sets it (1,000 by default, `make fuzz FUZZ_EXAMPLES=5000` for more) and runs the tests
  marked `fuzz` (the decorator marks them) with `--hypothesis-show-statistics`, which prints how
  many examples each property tried and how many passed.
- `deadline=None`: timings are never asserted; the servers are real and the machine is shared.
- Function-scoped fixtures (a receiver, a worker, the sandbox fakes) are shared by the examples
  of one test on purpose: each example must not depend on the last one's leftovers.
- Failing examples are kept in `.hypothesis/` and replayed first next time; each one found
  becomes a plain regression test beside the property."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings

ENV = "IRP_FUZZ_EXAMPLES"
LONG = int(os.environ.get(ENV) or 0)  # 0: the small budget each property names

settings.register_profile(
    "irp",
    deadline=None,
    print_blob=True,  # a failure prints the @reproduce_failure line that replays it
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
settings.load_profile("irp")


def budget(small: int) -> int:
    """Examples for a property: `small` in `make test`, IRP_FUZZ_EXAMPLES in `make fuzz`."""
    return LONG or small


def fuzzed(small: int) -> Callable:
    """Decorator for a Hypothesis test (put it above `@given`): its budget (`budget(small)`) and
    the `fuzz` mark `make fuzz` selects."""

    def apply(test: Callable) -> Callable:
        return pytest.mark.fuzz(settings(max_examples=budget(small))(test))

    return apply

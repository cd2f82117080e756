"""How big an incident may grow, whatever people send (issue 20). Pure.

An incident carries its whole state into each new run (continue-as-new) as one payload, and
Temporal refuses a payload over 2 MiB: a state that grew past it failed every workflow task of
the incident for good (a script sending 1,200 long `post_update`s did it). So what grows with
what people send is bounded — the timeline keeps its latest entries, each clipped, and counts the
rest; requests, claims, pins and action items are capped, and refused with the reason past the
cap — and before each new run the state is fitted under STATE_BUDGET, older timeline entries
going first. The whole story stays in the workflow's history and the bridge."""

from __future__ import annotations

TIMELINE_KEPT = 1_000  # timeline entries an incident keeps; older ones are counted, not kept
TEXT_KEPT = 1_000  # characters of one timeline entry's text (the bridge has the whole message)
STATE_BUDGET = 1_536 * 1024  # bytes of JSON a new run may carry (Temporal's limit is 2 MiB)
REQUESTS = 200  # §4.3/§7 requests an incident takes
CLAIMS = 100  # decisions in someone's name waiting or answered (each keeps its input)
PINS = 100  # bridge messages pinned to the timeline
PIN_TEXT = 1_000  # characters of a pinned message kept
ACTION_ITEMS = 100  # post-mortem action items (each a ticket)
GATE_RUNS = 50  # resolve attempts kept (the latest)


def clip(text: str, limit: int = TEXT_KEPT) -> str:
    """`text`, cut to `limit` characters with a visible note of how much more there was."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit:,} more characters)"


def overflow(entries: int, kept: int = TIMELINE_KEPT) -> int:
    """How many of the oldest timeline entries to let go so that `kept` remain."""
    return max(entries - kept, 0)


def to_fit(sizes: list[int], total: int, budget: int = STATE_BUDGET) -> int:
    """How many of the oldest timeline entries (their JSON `sizes`, oldest first) to let go so a
    state of `total` bytes fits `budget`; all of them if even that is not enough."""
    dropped = 0
    while total > budget and dropped < len(sizes):
        total -= sizes[dropped] + 1  # and its comma
        dropped += 1
    return dropped


def over(count: int, cap: int, what: str) -> str | None:
    """The refusal when an incident already holds `cap` of `what`, else None."""
    return f"this incident already holds {cap} {what}, as many as it keeps" if count >= cap else None

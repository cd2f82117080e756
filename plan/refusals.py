"""How many refusals an incident keeps and tells (issue 20). Pure.

Every refused input is told where people look: the timeline and the bridge. A flood of them — a
script gone wrong, or an attacker with signal access sending thousands — must not bury the bridge
under 🚫 messages, hold up the chat lane the §5.2 updates need, or grow the incident's state until
continue-as-new cannot carry it. So the bridge is told at most ANNOUNCED refusals per WINDOW (the
next one told after a quiet spell says how many went untold), and the timeline keeps the KEPT
latest refusals, counting the older ones it let go."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

KEPT = 200  # refusal entries kept in the timeline; older ones are counted, not kept
ANNOUNCED = 10  # refusals told in the bridge per WINDOW
WINDOW = timedelta(minutes=5)
REFUSED = "refused"  # the timeline kind of a refusal


class RefusalLog(BaseModel):
    """What the incident remembers of refusals beyond the timeline's own entries."""

    dropped: int = 0  # older refusal entries let go of the timeline
    announced: list[datetime] = []  # when the last (at most ANNOUNCED) refusals were told in the bridge
    untold: int = 0  # refusals not told in the bridge since the last one that was


def tell(log: RefusalLog, now: datetime) -> tuple[bool, int]:
    """Whether a refusal at `now` is told in the bridge, and how many went untold before it
    (to say so with it). Updates `log`."""
    log.announced = [at for at in log.announced if now - at < WINDOW]
    if len(log.announced) >= ANNOUNCED:
        log.untold += 1
        return False, 0
    untold, log.untold = log.untold, 0
    log.announced.append(now)
    return True, untold


def let_go(kinds: list[str]) -> int | None:
    """The index of the timeline entry to let go before a new refusal is added (the oldest
    refusal, when KEPT are already there), or None. `kinds`: the timeline's entry kinds, in order."""
    refusals = [i for i, kind in enumerate(kinds) if kind == REFUSED]
    return refusals[0] if len(refusals) >= KEPT else None


def untold_note(untold: int) -> str:
    """What a told refusal adds when others went untold before it."""
    return f" ({untold:,} more refused since the last one told here: see the timeline)" if untold else ""

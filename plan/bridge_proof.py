"""Which existing channel an incident may take as its bridge (§4.1): only one it can prove it made.
Pure (no I/O, no clock).

A retried `open_bridge` looks for the channel its earlier attempt made before it makes another.
Every incident posts through the same bot, so "a fresh channel of this bot with no purpose" proves
nothing: under a rate limit, another incident's channel looks exactly like that between its
create and the setting of its purpose (issue 20: two incidents in one channel). Two things
prove a channel is this incident's:

- `made`: the channel id the chat service's create answered to this incident's own attempt, kept
  in the attempt's heartbeat details (the SDK sends the last ones with a failed attempt);
- the purpose the bot itself set on a channel it created, naming this incident as its subject:
  `Incident <id>` at the start, then the end, `: ` or ` (` (`bridge_purpose` writes it). A purpose
  that only mentions the id later (a summary saying "like inc-7"), a longer id (`inc-1-2` is not
  `inc-1`), or a purpose a person set, proves nothing.

A channel nothing proves is never taken, whoever made it: a create whose answer was lost leaves an
empty channel behind (docs/reliability.md), which is better than two incidents in one bridge."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PURPOSE_MAX = 250  # Slack's limit on a channel purpose


def bridge_purpose(incident_id: str, summary: str = "", continues: str | None = None) -> str:
    """The bridge's purpose: `Incident <id>[ (continues #<old>)][: <summary>]`, at most 250
    characters (the id comes first, so clipping never cuts the proof)."""
    text = f"Incident {incident_id}" + (f" (continues #{continues})" if continues else "")
    return (text + (f": {summary}" if summary else ""))[:PURPOSE_MAX]


def purpose_names(purpose: str, incident_id: str) -> bool:
    """The purpose is this incident's: it starts `Incident <incident_id>` followed by its end, `: `
    or ` (`. Mentioning the id elsewhere, or a longer id that starts with it, is not naming it."""
    return re.match(rf"Incident {re.escape(incident_id)}(?:$|: | \()", purpose) is not None


@dataclass(frozen=True)
class SeenChannel:
    """A channel as the chat service lists it. `creator`: who made it; `purpose_by`: who last set
    its purpose ("" when never set); `created`: when, in the service's seconds."""

    id: str
    name: str
    creator: str
    purpose: str = ""
    purpose_by: str = ""
    archived: bool = False
    created: int = 0


@dataclass(frozen=True)
class Proof:
    """What this incident knows of its own channels: its id, the day's channel name (every bridge
    of the day starts with it), the bot's own user, and `made`, the id its last attempt's create
    was answered with (None when no create was answered)."""

    incident_id: str
    name_prefix: str
    bot: str
    made: str | None = None


def proven(channel: SeenChannel, proof: Proof) -> bool:
    """Open, and either the channel the incident's own create made, or one the bot made and gave a
    purpose naming this incident, under the day's name."""
    if channel.archived:
        return False
    if proof.made is not None and channel.id == proof.made:
        return True
    return (
        channel.creator == proof.bot
        and channel.purpose_by == proof.bot
        and channel.name.startswith(proof.name_prefix)
        and purpose_names(channel.purpose, proof.incident_id)
    )


def adopt(channels: Iterable[SeenChannel], proof: Proof) -> SeenChannel | None:
    """The channel to take as this incident's bridge: the one its create made if it is there, else
    the oldest proven one; None when no channel is proven (then a new one is made)."""
    mine = [c for c in channels if proven(c, proof)]
    made = [c for c in mine if c.id == proof.made]
    return (made or sorted(mine, key=lambda c: c.created) or [None])[0]


def left_behind(channels: Iterable[SeenChannel], proof: Proof, creating: str | None) -> SeenChannel | None:
    """The channel called `creating` (the name the incident's last create asked for, unanswered)
    when the bot made it, it has no purpose and nothing proves it: perhaps that create's, perhaps
    another incident's still being set up. It is not adopted; people are told of it."""
    if creating is None:
        return None
    return next(
        (
            c
            for c in channels
            if c.name == creating
            and c.creator == proof.bot
            and not c.purpose
            and not c.archived
            and not proven(c, proof)
        ),
        None,
    )

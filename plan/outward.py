"""Idempotency keys in outside systems (issue 23 case 7). Every outward step is keyed so that a
retry finds what an earlier attempt made: the PagerDuty dedup key, the email Message-ID, the
Jira ticket's label, the Statuspage incident's metadata, a direct message's tag. Keyed by the
incident id alone, those keys last only as long as Temporal remembers the incident: once the
namespace's retention deletes a closed incident, the same alert group fires again, gets the
same workflow id, and adopts the old incident's status page, tickets and Message-IDs.

So an incident's keys carry its *outward id*: the incident id and a digest of the first run id
of its chain (Temporal's `first_execution_run_id`, the same in every run continue-as-new makes,
and new for a new start under the same workflow id), made once when the incident starts and
kept in its state. An incident begun before this has none: its keys stay its incident id, so a
running incident never makes its outside items twice. Pure: no I/O."""

from __future__ import annotations

import hashlib

__all__ = ["keyed", "outward_id"]

DIGEST = 12  # hex characters of the run id's digest: 48 bits, per reuse of one workflow id


def outward_id(incident_id: str, first_run_id: str) -> str:
    """`<incident_id>.<12 hex>`: readable as the incident, unique to this start of it. Characters
    stay within what every key allows (the Message-ID's `[A-Za-z0-9._-]`, Jira labels after
    their own cleaning, PagerDuty's 255-character dedup key)."""
    digest = hashlib.sha256(first_run_id.encode("utf-8")).hexdigest()[:DIGEST]
    return f"{incident_id}.{digest}"


def keyed(incident_id: str, outward: str) -> str:
    """The id an incident's outward keys are made from: its outward id, or for an incident begun
    before outward ids (`outward` empty) its incident id, as its keys always were."""
    return outward or incident_id

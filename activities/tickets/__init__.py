"""The tickets port (§4.6 and §8): the review's tickets (post-mortem, meeting, runbook update,
each action item), created once each however often the activity is retried. Providers:
tickets/jira.py."""

from __future__ import annotations

import re
from datetime import date
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import give_up
from plan.picture import TimelinePicture

_KEY = re.compile(r"^[a-z][a-z0-9-]{0,99}$")


class TicketRequest(BaseModel):
    """One ticket of one incident; (incident_id, key) names it, so it is made once."""

    incident_id: str
    # unique within the incident: "postmortem", "postmortem-meeting", "runbook-update", "action-item-3"
    key: str
    summary: str
    description: str  # light markdown; the provider converts it to its rich text
    issue_type: str = "Task"
    due: date | None = None
    assignee_email: str | None = None
    # §4.6: the incident's timeline, drawn and attached as PICTURE (the post-mortem ticket's)
    picture: TimelinePicture | None = None


class TicketResult(BaseModel):
    """The ticket, as people open it; `created` is False when an earlier attempt had made it."""

    key: str | None = None  # e.g. "IRP-12"
    url: str | None = None
    created: bool = False
    skipped: str | None = None
    note: str | None = None  # what was left out, in the provider's words
    # the tracker refused this ticket for good (a field the project requires, an issue type or a
    # project it does not have), in its words; the other tickets go on
    failed: str | None = None
    attached: list[str] = []  # files attached to it by this attempt or an earlier one


class Tickets(Protocol):
    """An issue tracker. Errors are `try_again` / `give_up` (activities/errors.py)."""

    name: str

    async def find(self, incident_id: str, key: str, *, retry: bool) -> TicketResult | None:
        """The ticket made for (incident_id, key), if any. `retry`: an earlier attempt may have
        made it and lost the answer, so look hard enough to see a ticket made a moment ago."""
        ...

    async def create(self, request: TicketRequest) -> TicketResult:
        """A new ticket, marked so that `find` finds it. What the tracker would not take (an
        unknown assignee, a due date, a description over its size limit) is left out and said
        in `note`, rather than failing the ticket."""
        ...

    async def attach(self, key: str, filename: str, content: bytes, mime_type: str) -> bool:
        """The file on ticket `key`, once (a file of that name already there is kept)."""
        ...


PICTURE = "incident-timeline.png"  # the name the post-mortem draft shows it by


class TicketActivities:
    """Tickets in `tickets`, or None when no provider is configured (`missing` names what is
    missing in the skip note)."""

    def __init__(self, tickets: Tickets | None, *, missing: str = "tickets"):
        self.tickets, self.missing = tickets, missing

    @activity.defn
    async def create_ticket(self, request: TicketRequest) -> TicketResult:
        """Exactly once: looked up by (incident, key) before it is created. A ticket that is
        already there is returned with created=False. A ticket the tracker refuses for good (its
        `give_up`: a 400 for a required field, a 404 project) answers `failed` with the tracker's
        words, so that it is reported on its own and the other tickets go on; what may pass later
        (down, rate limited) is retried. A key that is not lowercase letters, digits and '-' (at
        most 100) is refused without retrying."""
        if self.tickets is None:
            return TicketResult(skipped=f"skipped: {self.missing} not configured")
        if not _KEY.match(request.key):
            raise give_up(
                f"ticket key {request.key!r} must be lowercase letters, digits and '-', "
                "starting with a letter, at most 100 characters"
            )
        try:
            found = await self.tickets.find(
                request.incident_id, request.key, retry=activity.info().attempt > 1
            )
            result = found or await self.tickets.create(request)
        except ApplicationError as e:
            if not e.non_retryable:
                raise
            return TicketResult(failed=e.message)
        if request.picture is not None and result.key:
            return await self._attach_picture(result, request.picture)
        return result

    async def _attach_picture(self, result: TicketResult, picture: TimelinePicture) -> TicketResult:
        """§4.6: the timeline picture on the ticket. An enrichment: a picture that cannot be drawn,
        or a tracker that refuses it for good (attachments off, too large), leaves the ticket as it
        is with a note; what may pass (429, 5xx, unreachable) is retried as the ticket would be."""
        try:
            from reporting.charts import timeline_png  # matplotlib, only when a picture is drawn

            png = timeline_png(picture)
        except Exception as e:  # never the ticket's failure
            return _noted(result, f"timeline picture not drawn ({type(e).__name__}: {e})")
        try:
            await self.tickets.attach(result.key, PICTURE, png, "image/png")
        except ApplicationError as e:
            if not e.non_retryable:
                raise
            return _noted(result, f"timeline picture not attached ({e.message})")
        return result.model_copy(update={"attached": [PICTURE]})


def _noted(result: TicketResult, note: str) -> TicketResult:
    return result.model_copy(update={"note": "; ".join(n for n in (result.note, note) if n)})

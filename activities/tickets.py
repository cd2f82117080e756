"""§4.6 and §8: the review's Jira tickets (post-mortem, meeting, runbook update, each action item),
created once each however often the activity is retried."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import date

from pydantic import BaseModel
from temporalio import activity

from activities.adf import to_adf
from activities.errors import give_up
from activities.jira import FieldsRefused, Jira

LABEL = "preskool-irp"  # on every ticket we create
MAX_LABEL = 255  # Jira: a label is at most 255 characters and has no spaces
MAX_SUMMARY = 255  # Jira: one line, at most 255 characters
MAX_DESCRIPTION = 32_767  # Jira's limit for a text field; held here against the ADF as JSON, which is longer
TRUNCATED = "(Truncated to fit Jira's size limit: the incident's status holds the full text.)"
_KEY = re.compile(r"^[a-z][a-z0-9-]{0,99}$")
_NOT_LABEL = re.compile(r"[^a-z0-9_.-]+")


class TicketRequest(BaseModel):
    incident_id: str
    key: str  # unique within the incident: "postmortem", "postmortem-meeting", "runbook-update", "action-item-3"
    summary: str
    description: str  # light markdown, converted to ADF
    issue_type: str = "Task"
    due: date | None = None
    assignee_email: str | None = None


class TicketResult(BaseModel):
    key: str | None = None  # e.g. "IRP-12"
    url: str | None = None
    created: bool = False
    skipped: str | None = None
    note: str | None = None  # e.g. "assignee someone@x not found in Jira; left unassigned"


class TicketActivities:
    def __init__(self, jira: Jira | None, recheck_after: float = 5.0):
        """`recheck_after`: on a retry, how long to wait before searching a second time, since a
        ticket our earlier attempt created may not be searchable yet."""
        self.jira, self.recheck_after = jira, recheck_after

    @activity.defn
    async def create_ticket(self, request: TicketRequest) -> TicketResult:
        """Exactly once: every ticket carries a label unique to (incident, key), and is looked up by
        it before it is created. A ticket that is already there is returned with created=False."""
        if self.jira is None:
            return TicketResult(skipped="skipped: jira not configured")
        if not _KEY.match(request.key):
            raise give_up(f"ticket key {request.key!r} must be lowercase letters, digits and '-', "
                          "starting with a letter, at most 100 characters")
        jira, label = self.jira, ticket_label(request.incident_id, request.key)
        found = await jira.find_issue(label)
        if found is None and activity.info().attempt > 1 and self.recheck_after > 0:
            # An earlier attempt may have created it and lost the answer; search lags creation.
            await asyncio.sleep(self.recheck_after)
            found = await jira.find_issue(label)
        if found is not None:
            return TicketResult(key=found["key"], url=jira.browse_url(found["key"]))

        notes: list[str] = []
        assignee = None
        if request.assignee_email:
            assignee = await jira.account_id(request.assignee_email)
            if assignee is None:
                notes.append(f"assignee {request.assignee_email} not found in Jira; left unassigned")
        description, truncated = fit_description(request.description)
        if truncated:
            notes.append("description truncated to fit Jira's size limit")
        fields = dict(summary=one_line(request.summary), description_adf=description, issue_type=request.issue_type,
                      labels=[LABEL, label_part(request.incident_id), label], due=request.due,
                      assignee_account_id=assignee)
        try:
            created = await jira.create_issue(**fields)
        except FieldsRefused as refused:  # nothing was created: again, without what was refused
            if "assignee" in refused.errors:
                fields["assignee_account_id"] = None
                notes.append(f"assignee {request.assignee_email} cannot be assigned in Jira "
                             f"({refused.errors['assignee']}); left unassigned")
            if "duedate" in refused.errors:
                fields["due"] = None
                notes.append(f"due date {request.due} refused by Jira ({refused.errors['duedate']}); left without one")
            created = await jira.create_issue(**fields)
        return TicketResult(key=created["key"], url=jira.browse_url(created["key"]), created=True,
                            note="; ".join(notes) or None)


def label_part(value: str) -> str:
    """Lowercase, no spaces, only letters, digits, '_', '.', '-': safe as a label and in JQL."""
    part = _NOT_LABEL.sub("-", value.lower()).strip("-")
    return _bounded(part or "none", value)


def ticket_label(incident_id: str, key: str) -> str:
    """`irp-<incident id>-<key>`, unique to one ticket of one incident."""
    return _bounded(f"irp-{label_part(incident_id)}-{label_part(key)}", f"{incident_id}\n{key}")


def _bounded(label: str, source: str) -> str:
    """At most MAX_LABEL characters; a cut label ends in a hash of what it was made from."""
    if len(label) <= MAX_LABEL:
        return label
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{label[:MAX_LABEL - len(digest) - 1]}-{digest}"


def one_line(summary: str) -> str:
    """Jira refuses a summary with a line break or over 255 characters."""
    line = " ".join(summary.split())
    return line if len(line) <= MAX_SUMMARY else line[:MAX_SUMMARY - 1] + "…"


def adf_size(doc: dict) -> int:
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))


def fit_description(text: str, limit: int = MAX_DESCRIPTION) -> tuple[dict, bool]:
    """The ADF of `text`, cut (with a closing note) until it fits `limit`; and whether it was cut."""
    doc = to_adf(text)
    if adf_size(doc) <= limit:
        return doc, False
    keep, note = len(text), to_adf(TRUNCATED)["content"]
    while keep > 0:
        keep = int(keep * min(0.9, limit / adf_size(doc)))
        doc = to_adf(text[:keep])
        doc["content"].extend(note)
        if adf_size(doc) <= limit:
            return doc, True
    return {"type": "doc", "version": 1, "content": note}, True

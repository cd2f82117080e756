"""Tickets in Jira Cloud: platform REST API v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/)
over httpx. Jira's rules live here: a ticket is found by a label unique to (incident, key), its
assignee by a user search on the email, its description is ADF cut to Jira's size limit
(tickets/jira_adf.py), its summary one line of at most 255 characters."""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
from datetime import date
from typing import Any

import httpx
from pydantic import Field, SecretStr
from temporalio.exceptions import ApplicationError

from activities.errors import give_up, try_again
from activities.settings import SharedSettings, secret
from activities.tickets import TicketRequest, TicketResult
from activities.tickets.jira_adf import fit_description
from plan.models import Person

SEARCH_FIELDS = ["summary", "status", "duedate", "labels"]
LABEL = "preskool-irp"  # on every ticket we create
MAX_LABEL = 255  # Jira: a label is at most 255 characters and has no spaces
MAX_SUMMARY = 255  # Jira: one line, at most 255 characters
_NOT_LABEL = re.compile(r"[^a-z0-9_.-]+")


class FieldsRefused(Exception):
    """Jira refused the create for optional fields only (`assignee`, `duedate`): field -> Jira's
    reason. Nothing was created; the same issue without those fields may be."""

    def __init__(self, errors: dict[str, str], message: str):
        super().__init__(message)
        self.errors = errors


class JiraSettings(SharedSettings):
    """JIRA_URL (https://<site>.atlassian.net), JIRA_EMAIL and JIRA_API_TOKEN (the account's basic
    auth), JIRA_PROJECT (its key, e.g. IRP): all four turn Jira on."""

    jira_url: str | None = Field(
        None,
        description=(
            "The Jira Cloud site (`https://<site>.atlassian.net`); the four JIRA_ variables together turn "
            "tickets on."
        ),
    )
    jira_email: str | None = Field(
        None,
        description="The Jira account's email (basic auth with JIRA_API_TOKEN).",
    )
    jira_api_token: SecretStr | None = Field(None, description="The Jira account's API token.")
    jira_project: str | None = Field(
        None,
        description="The key of the project the follow-up tickets go to (e.g. IRP).",
    )


class Jira:
    """Issues in one Jira Cloud project, as one account (email + API token, HTTP basic auth).

    `find_issue` uses the enhanced JQL search (`POST /rest/api/3/search/jql`), which replaced
    `/rest/api/3/search` and is eventually consistent: an issue created a moment ago may not be
    found yet. Atlassian says most changes show within seconds: a retried `find` that finds
    nothing waits `recheck_after` seconds and searches once more."""

    name = "jira"
    Settings = JiraSettings
    enabled_by = ("JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PROJECT")
    optional_fields = ("assignee", "duedate")  # may be dropped if the project's create screen lacks them

    def __init__(
        self,
        url: str,
        email: str,
        api_token: str,
        project: str,
        ssl_context: ssl.SSLContext,
        *,
        recheck_after: float = 5.0,
    ):
        self.url, self.email, self.project = url.rstrip("/"), email, project
        self.api_token, self.ssl_context, self.recheck_after = api_token, ssl_context, recheck_after

    @classmethod
    def from_settings(cls, settings: JiraSettings, people: tuple[Person, ...] = ()) -> Jira | None:
        """None unless JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT are all set."""
        token = secret(settings.jira_api_token)
        if not (settings.jira_url and settings.jira_email and token and settings.jira_project):
            return None
        return cls(settings.jira_url, settings.jira_email, token, settings.jira_project, settings.ssl_context)

    # the tickets port ----------------------------------------------------------------------------

    async def find(self, incident_id: str, key: str, *, retry: bool) -> TicketResult | None:
        """The issue labelled `ticket_label(incident_id, key)`; on a retry, searched twice
        `recheck_after` apart, since an issue our earlier attempt created may not be searchable yet."""
        label = ticket_label(incident_id, key)
        found = await self.find_issue(label)
        if found is None and retry and self.recheck_after > 0:
            await asyncio.sleep(self.recheck_after)
            found = await self.find_issue(label)
        return TicketResult(key=found["key"], url=self.browse_url(found["key"])) if found else None

    async def create(self, request: TicketRequest) -> TicketResult:
        """A new issue labelled `preskool-irp`, the incident id and `ticket_label`. An assignee Jira
        does not know, or refuses, and a due date it refuses, are left out and said in `note`."""
        notes: list[str] = []
        assignee = await self._assignee(request.assignee_email, notes)
        description, truncated = fit_description(request.description)
        if truncated:
            notes.append("description truncated to fit Jira's size limit")
        labels = [LABEL, label_part(request.incident_id), ticket_label(request.incident_id, request.key)]
        fields = dict(
            summary=one_line(request.summary),
            description_adf=description,
            issue_type=request.issue_type,
            labels=labels,
            due=request.due,
            assignee_account_id=assignee,
        )
        try:
            created = await self.create_issue(**fields)
        except FieldsRefused as refused:  # nothing was created: again, without what was refused
            if "assignee" in refused.errors:
                fields["assignee_account_id"] = None
                notes.append(
                    f"assignee {request.assignee_email} cannot be assigned in Jira "
                    f"({refused.errors['assignee']}); left unassigned"
                )
            if "duedate" in refused.errors:
                fields["due"] = None
                notes.append(
                    f"due date {request.due} refused by Jira ({refused.errors['duedate']}); left without one"
                )
            created = await self.create_issue(**fields)
        return TicketResult(
            key=created["key"],
            url=self.browse_url(created["key"]),
            created=True,
            note="; ".join(notes) or None,
        )

    async def attach(self, key: str, filename: str, content: bytes, mime_type: str) -> bool:
        """The file `filename` on issue `key`, once: an issue that already has an attachment of
        that name (an earlier attempt's) is left as it is. True when attached now."""
        issue = await self._request("GET", f"/rest/api/3/issue/{key}", params={"fields": "attachment"})
        fields = issue.get("fields") if isinstance(issue, dict) else None
        present = (fields or {}).get("attachment") or []
        if any(isinstance(a, dict) and a.get("filename") == filename for a in present):
            return False
        await self._request(
            "POST",
            f"/rest/api/3/issue/{key}/attachments",
            files={"file": (filename, content, mime_type)},
            headers={"X-Atlassian-Token": "no-check"},  # Jira's XSRF guard on this endpoint
        )
        return True

    # the REST API --------------------------------------------------------------------------------

    def browse_url(self, key: str) -> str:
        """Where people open the issue: `<JIRA_URL>/browse/IRP-12`."""
        return f"{self.url}/browse/{key}"

    async def find_issue(self, label: str) -> dict | None:
        """The project's issue carrying `label`, as the search shows it (id, key, self, fields)."""
        jql = f"project = {jql_string(self.project)} AND labels = {jql_string(label)}"
        found = await self._request(
            "POST", "/rest/api/3/search/jql", json={"jql": jql, "fields": SEARCH_FIELDS, "maxResults": 1}
        )
        issues = found.get("issues") if isinstance(found, dict) else None
        return issues[0] if issues else None

    async def create_issue(
        self,
        *,
        summary: str,
        description_adf: dict | None,
        issue_type: str,
        labels: list[str],
        due: date | None,
        assignee_account_id: str | None,
    ) -> dict:
        """`{"id", "key", "self"}` of the new issue. Raises FieldsRefused when Jira refused only
        the assignee or the due date (nothing was created)."""
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "summary": summary,
            "issuetype": {"name": issue_type},
            "labels": labels,
        }
        if description_adf and description_adf.get("content"):
            fields["description"] = description_adf
        if due is not None:
            fields["duedate"] = due.isoformat()
        if assignee_account_id:
            fields["assignee"] = {"accountId": assignee_account_id}
        response = await self._send("POST", "/rest/api/3/issue", json={"fields": fields})
        if response.status_code == 400:
            errors = _field_errors(response)
            refused = {k: v for k, v in errors.items() if k in self.optional_fields and k in fields}
            if refused and len(refused) == len(errors) and not _messages(response):
                raise FieldsRefused(refused, self._said("POST /rest/api/3/issue", response))
        return self._answer("POST /rest/api/3/issue", response)

    async def _assignee(self, email: str | None, notes: list[str]) -> str | None:
        """The assignee's account, or None with a note: the lookup is an enrichment, and a failed
        one (a 403 for a bot that may not browse users, a 404, Jira down) never blocks the ticket."""
        if not email:
            return None
        try:
            account = await self.account_id(email)
        except ApplicationError as e:
            notes.append(f"assignee {email} could not be looked up ({e.message}); left unassigned")
            return None
        if account is None:
            notes.append(f"assignee {email} not found in Jira; left unassigned")
        return account

    async def account_id(self, email: str) -> str | None:
        """The active person with this email. Jira hides emails by the person's profile visibility:
        an exact match wins; failing that, the first person whose email is hidden (the query
        matched their email or name); a visible email that differs is never taken."""
        users = await self._request(
            "GET", "/rest/api/3/user/search", params={"query": email, "maxResults": 10}
        )
        people = (
            [
                u
                for u in users
                if isinstance(u, dict)
                and u.get("accountId")
                and u.get("active", True)
                and u.get("accountType", "atlassian") != "app"
            ]
            if isinstance(users, list)
            else []
        )
        exact = next((u for u in people if str(u.get("emailAddress") or "").lower() == email.lower()), None)
        hidden = next((u for u in people if not u.get("emailAddress")), None)
        chosen = exact or hidden
        return chosen["accountId"] if chosen else None

    async def _request(self, method: str, path: str, **kwargs) -> Any:
        return self._answer(f"{method} {path}", await self._send(method, path, **kwargs))

    async def _send(self, method: str, path: str, headers: dict | None = None, **kwargs) -> httpx.Response:
        try:
            async with httpx.AsyncClient(
                verify=self.ssl_context,
                timeout=15,
                auth=(self.email, self.api_token),
                headers={"Accept": "application/json", **(headers or {})},
            ) as client:
                return await client.request(method, self.url + path, **kwargs)
        except httpx.TransportError as e:
            said = f"Jira unreachable ({method} {path}): {type(e).__name__} {e}"
            raise try_again(self._hide(said)) from None

    def _answer(self, what: str, response: httpx.Response) -> Any:
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise try_again(f"Jira answered {what} with a body that is not JSON") from None
        said = self._said(what, response)
        if response.status_code == 429 or response.status_code >= 500:
            raise try_again(said)
        raise give_up(said)  # 400 (Jira says why), 401 (credentials), 403 (permission), 404, ...

    def _said(self, what: str, response: httpx.Response) -> str:
        return self._hide(f"Jira answered {what} with {response.status_code}: {_error(response)}")

    def _hide(self, message: str) -> str:
        return message.replace(self.api_token, "***") if self.api_token else message


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
    return f"{label[: MAX_LABEL - len(digest) - 1]}-{digest}"


def one_line(summary: str) -> str:
    """Jira refuses a summary with a line break or over 255 characters."""
    line = " ".join(summary.split())
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 1] + "…"


def jql_string(value: str) -> str:
    """A JQL string literal: double quotes, with `"` and `\\` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _messages(response: httpx.Response) -> list[str]:
    body = _json(response)
    messages = body.get("errorMessages") if isinstance(body, dict) else None
    return [str(m) for m in messages] if isinstance(messages, list) else []


def _field_errors(response: httpx.Response) -> dict[str, str]:
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    return {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}


def _error(response: httpx.Response) -> str:
    """Jira's `{"errorMessages": [...], "errors": {field: message}}`, the gateway's `{"message"}`,
    else the start of the body."""
    body = _json(response)
    said = [*_messages(response), *(f"{k}: {v}" for k, v in _field_errors(response).items())]
    if not said and isinstance(body, dict) and body.get("message"):
        said = [str(body["message"])]
    return "; ".join(said) or response.text[:300].strip() or response.reason_phrase

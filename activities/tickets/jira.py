"""Tickets in Jira Cloud: platform REST API v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/)
over httpx. Jira's rules live here: a ticket is found by a label unique to (incident, key), its
assignee by a user search on the email, its description is ADF cut to Jira's size limit
(tickets/jira_adf.py), its summary one line of at most 255 characters.

Projects as customers configure them: the issue type is looked up once in the project's create
metadata and sent by id (a French site calls Task "Tâche"); the fields the project requires are
named in JIRA_FIELDS and the components in JIRA_COMPONENTS; `check()` holds all of it to Jira
when the worker starts (worker.py refuses to start, naming the setting and what Jira offers),
and a ticket Jira still refuses later fails on its own with Jira's words (TicketResult.failed)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import ssl
from datetime import date
from typing import Annotated, Any

import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode
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
    auth), JIRA_PROJECT (its key, e.g. IRP): all four turn Jira on. JIRA_ISSUE_TYPE, JIRA_FIELDS and
    JIRA_COMPONENTS fit the tickets to the project as it is configured; the worker checks them
    against the project's create metadata when it starts."""

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
    jira_issue_type: str | None = Field(
        None,
        description=(
            "The issue type of the tickets: its id (e.g. 10001) or its name as the project shows it, in "
            "the site's language (`Tâche` on a French site). Unset: `Task` if the project has it, else "
            "the project's first standard type (neither epic nor sub-task)."
        ),
    )
    jira_fields: Annotated[dict[str, Any], NoDecode] = Field(
        {},
        description=(
            "A JSON object of the values the project requires on every new issue, as Jira's create "
            'API takes them, e.g. `{"customfield_10010": {"value": "Platform"}}`.'
        ),
    )
    jira_components: Annotated[list[str], NoDecode] = Field(
        [],
        description="Comma-separated component names every ticket is filed under (e.g. `Backend,Ops`).",
    )

    @field_validator("jira_fields", mode="before")
    @classmethod
    def _fields_json(cls, value: Any) -> Any:
        """JIRA_FIELDS: a JSON object. Raises ValueError naming the setting."""
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError as e:
                raise ValueError(f"JIRA_FIELDS must be a JSON object: {e}") from None
        if not isinstance(value, dict):
            raise ValueError("JIRA_FIELDS must be a JSON object of field id -> value")
        return value

    @field_validator("jira_components", mode="before")
    @classmethod
    def _components_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [c.strip() for c in value.split(",") if c.strip()]
        return value


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
        issue_type: str | None = None,
        fields: dict[str, Any] | None = None,
        components: list[str] | tuple[str, ...] = (),
    ):
        self.url, self.email, self.project = url.rstrip("/"), email, project
        self.api_token, self.ssl_context, self.recheck_after = api_token, ssl_context, recheck_after
        self.issue_type, self.fields, self.components = issue_type, dict(fields or {}), list(components)
        self._type: dict | None = None  # the project's issue type, looked up once (type_to_send)

    @classmethod
    def from_settings(cls, settings: JiraSettings, people: tuple[Person, ...] = ()) -> Jira | None:
        """None unless JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT are all set."""
        token = secret(settings.jira_api_token)
        if not (settings.jira_url and settings.jira_email and token and settings.jira_project):
            return None
        return cls(
            settings.jira_url,
            settings.jira_email,
            token,
            settings.jira_project,
            settings.ssl_context,
            issue_type=settings.jira_issue_type,
            fields=settings.jira_fields,
            components=settings.jira_components,
        )

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
            issue_type=(await self.type_to_send(request.issue_type))["id"],
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
        """`{"id", "key", "self"}` of the new issue; `issue_type` is the type's id, JIRA_FIELDS and
        JIRA_COMPONENTS go with it. Raises FieldsRefused when Jira refused only the assignee or the
        due date (nothing was created)."""
        fields: dict[str, Any] = {
            **self.fields,
            "project": {"key": self.project},
            "summary": summary,
            "issuetype": {"id": issue_type},
            "labels": labels,
        }
        if self.components:
            fields["components"] = [{"name": c} for c in self.components]
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
            if "issuetype" in errors:  # the type was renamed or removed since it was looked up
                self._type = None
        return self._answer("POST /rest/api/3/issue", response)

    # the project as the customer configured it ----------------------------------------------------

    async def issue_types(self) -> list[dict]:
        """The project's issue types as its create metadata shows them (`{"id", "name",
        "hierarchyLevel", "subtask"}`, names in the site's language); every page. A project that
        does not exist is Jira's 404 (give_up)."""
        path = f"/rest/api/3/issue/createmeta/{self.project}/issuetypes"
        return await self._pages(path, "issueTypes")

    async def create_fields(self, type_id: str) -> list[dict]:
        """The create screen's fields for one issue type (`fieldId`, `name`, `required`,
        `hasDefaultValue`, `allowedValues`), every page."""
        return await self._pages(
            f"/rest/api/3/issue/createmeta/{self.project}/issuetypes/{type_id}", "fields"
        )

    async def _pages(self, path: str, key: str) -> list[dict]:
        items: list[dict] = []
        while True:
            page = await self._request("GET", path, params={"startAt": len(items), "maxResults": 50})
            got = page.get(key) if isinstance(page, dict) else None
            if not isinstance(got, list):
                raise try_again(f"Jira answered GET {path} without {key!r}")
            items += [i for i in got if isinstance(i, dict)]
            if not got or len(items) >= int(page.get("total") or 0):
                return items

    async def type_to_send(self, asked: str = "Task") -> dict:
        """The issue type tickets are created with, looked up once: JIRA_ISSUE_TYPE if set, else
        `asked` (pick_issue_type). Raises give_up naming what the project offers."""
        if self._type is None:
            types = await self.issue_types()
            wanted = self.issue_type or asked
            chosen = pick_issue_type(types, wanted, strict=self.issue_type is not None)
            if chosen is None:
                setting = (
                    f"JIRA_ISSUE_TYPE={self.issue_type}" if self.issue_type else "JIRA_ISSUE_TYPE (unset)"
                )
                lacks = "such issue type" if self.issue_type else f"{asked} nor a standard type (level 0)"
                raise give_up(
                    f"{setting}: Jira project {self.project} has no {lacks}; it offers {offered(types)}"
                )
            self._type = chosen
        return self._type

    async def check(self) -> str:
        """At the worker's start: the project, the issue type, the fields the project requires,
        JIRA_FIELDS and JIRA_COMPONENTS held to the project's create metadata. Answers what tickets
        will be created as; raises ValueError naming the setting and what Jira offers, or
        ApplicationError (try_again) when Jira cannot be asked now."""
        try:
            kind = await self.type_to_send()
        except ApplicationError as e:
            if e.non_retryable:
                raise ValueError(_start_refusal(self.project, e.message)) from None
            raise
        on_screen = {f.get("fieldId"): f for f in await self.create_fields(kind["id"])}
        problems = screen_problems(on_screen, self.fields, self.components)
        if problems:
            raise ValueError(
                f"Jira project {self.project}, issue type {kind['name']} ({kind['id']}): "
                + "; ".join(problems)
            )
        return f"Jira tickets go to project {self.project} as {kind['name']} (issue type {kind['id']})"

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


def pick_issue_type(types: list[dict], wanted: str, *, strict: bool) -> dict | None:
    """The type whose id is `wanted`, else whose name is (case aside). Not `strict` (no
    JIRA_ISSUE_TYPE set): else the project's first standard type, hierarchy level 0 and not a
    sub-task, whatever the site's language calls it."""
    by_id = next((t for t in types if str(t.get("id")) == wanted), None)
    by_name = next((t for t in types if str(t.get("name", "")).casefold() == wanted.casefold()), None)
    if by_id or by_name or strict:
        return by_id or by_name
    return next((t for t in types if t.get("hierarchyLevel", 0) == 0 and not t.get("subtask")), None)


def offered(types: list[dict]) -> str:
    """`Tâche (10001), Bogue (10002)`: what a project offers, for a refusal."""
    return ", ".join(f"{t.get('name')} ({t.get('id')})" for t in types if not t.get("subtask")) or "none"


def screen_problems(on_screen: dict[str, dict], values: dict[str, Any], components: list[str]) -> list[str]:
    """What the project's create screen (fieldId -> createmeta field) would refuse of every ticket:
    a required field without a default that neither we nor JIRA_FIELDS set (or set empty), a JIRA_FIELDS field
    not on the screen, an option or a component the project does not have."""
    ours = {"project", "summary", "issuetype", "description", "labels", "duedate", "assignee"}
    problems = []
    for field_id, meta in on_screen.items():
        given = field_id in ours or values.get(field_id) not in (None, "", [], {})
        if meta.get("required") and not meta.get("hasDefaultValue") and not given:
            allowed = _allowed(meta)
            problems.append(
                f"JIRA_FIELDS must set {field_id} ({meta.get('name')}), which the project requires"
                + (f"; Jira allows {allowed}" if allowed else "")
            )
    for field_id, value in values.items():
        meta = on_screen.get(field_id)
        if meta is None:
            problems.append(f"JIRA_FIELDS.{field_id}: not on the project's create screen")
        elif (allowed := _allowed(meta)) and any(
            _option(v) not in _allowed_values(meta) for v in (value if isinstance(value, list) else [value])
        ):
            problems.append(
                f"JIRA_FIELDS.{field_id}: {_options(value)!r} is not an option; Jira allows {allowed}"
            )
    if components:
        meta = on_screen.get("components")
        have = [str(v.get("name")) for v in (meta or {}).get("allowedValues") or []]
        if unknown := [c for c in components if c not in have]:
            problems.append(
                f"JIRA_COMPONENTS: {', '.join(unknown)} not in the project; "
                f"it has {', '.join(have) or 'none'}"
            )
    return problems


def _allowed_values(meta: dict) -> list[str]:
    values = meta.get("allowedValues") or []
    return [str(v.get("value") or v.get("name")) for v in values if isinstance(v, dict)]


def _allowed(meta: dict) -> str:
    return ", ".join(_allowed_values(meta))


def _options(value: Any) -> str:
    return ", ".join(_option(v) for v in value) if isinstance(value, list) else _option(value)


def _option(value: Any) -> str:
    return str(value.get("value") or value.get("name")) if isinstance(value, dict) else str(value)


def _start_refusal(project: str, said: str) -> str:
    if " 404" in said or "with 404" in said:
        return f"JIRA_PROJECT={project}: Jira has no such project ({said})"
    if "with 401" in said:
        return f"JIRA_EMAIL/JIRA_API_TOKEN: Jira refused the credentials ({said})"
    return said


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

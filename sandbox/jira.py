"""Jira Cloud platform REST API v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/),
the part that creates and finds issues, for any HTTP client pointed at `fake.url` instead of
https://<site>.atlassian.net.

Held to the published reference: HTTP basic auth with email and API token; errors as
`{"errorMessages": [...], "errors": {field: message}}` (400, 404) or the gateway's 401;
`POST /rest/api/3/issue` validating what Jira validates (project, issue type, a one-line summary
of at most 255 characters, labels without spaces, `YYYY-MM-DD` due dates, an assignable
assignee, fields on the create screen, and a description in Atlassian Document Format: a plain
string or a malformed document is refused as Jira refuses it) and answering 201
`{"id", "key", "self"}`; `GET /rest/api/3/issue/{idOrKey}`; the enhanced search
`POST /rest/api/3/search/jql` (`{"issues", "nextPageToken"?, "isLast"}`, only the requested
fields, token pagination), which understands `field = "value"` clauses on `project` and
`labels` joined by AND and refuses any other JQL with 400; `GET /rest/api/3/user/search`; and
`POST /rest/api/3/issue/{idOrKey}/attachments`: multipart/form-data, each file in a part named
`file`, only with the header `X-Atlassian-Token: no-check` (else 403 "XSRF check failed"),
answered 200 with the new attachments' metadata, which the issue's `attachment` field then lists.
Search can lag creation as Jira's does (`index_delay`), except for the ids in `reconcileIssues`.

Projects as customers configure them: the create metadata endpoints
(`GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes` answering
`{"issueTypes", "maxResults", "startAt", "total"}`, and `.../issuetypes/{issueTypeId}` answering
`{"fields", ...}` with each field's `fieldId`, `name`, `required`, `hasDefaultValue`,
`allowedValues`), 404 `No project could be found with key 'X'.` for a project that does not
exist; issue types in the site's language (`issue_types`, e.g. FRENCH: Jira shows and matches the
localised name only, the id is the same in every language); custom fields the project requires
(`required`: 400 `{"errors": {"customfield_10010": "Équipe is required."}}` when missing, and an
option not among `allowedValues` refused); and components (`components`: an unknown name
refused with `Component name 'X' is not valid`)."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import time
from datetime import UTC, date, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from aiohttp import web

from sandbox.base import JsonRestFake

DEFAULT_EMAIL = "irp@preskool.com"
DEFAULT_TOKEN = "sandbox-jira-token"
DEFAULT_PROJECT = "IRP"
ISSUE_TYPES = {"Task": "10001", "Bug": "10002", "Story": "10003", "Epic": "10000"}
# The project's issue types as createmeta shows them: Jira Cloud's defaults (English), and the same
# types on a site whose language is French (same ids: only the names are localised).
ENGLISH = (
    {"id": "10001", "name": "Task", "hierarchyLevel": 0, "subtask": False},
    {"id": "10002", "name": "Bug", "hierarchyLevel": 0, "subtask": False},
    {"id": "10003", "name": "Story", "hierarchyLevel": 0, "subtask": False},
    {"id": "10000", "name": "Epic", "hierarchyLevel": 1, "subtask": False},
    {"id": "10004", "name": "Subtask", "hierarchyLevel": -1, "subtask": True},
)
FRENCH = (
    {"id": "10001", "name": "Tâche", "hierarchyLevel": 0, "subtask": False},
    {"id": "10002", "name": "Bogue", "hierarchyLevel": 0, "subtask": False},
    {"id": "10003", "name": "Story", "hierarchyLevel": 0, "subtask": False},
    {"id": "10000", "name": "Epic", "hierarchyLevel": 1, "subtask": False},
    {"id": "10004", "name": "Sous-tâche", "hierarchyLevel": -1, "subtask": True},
)
CREATE_SCREEN = frozenset(
    {
        "project",
        "summary",
        "issuetype",
        "description",
        "labels",
        "duedate",
        "assignee",
        "priority",
        "reporter",
        "parent",
    }
)
DEFAULT_USERS = {  # the roster in config/preskool.yaml
    "asha.rao@preskool.com": {"accountId": "712020:0a5e1c0001", "displayName": "Asha Rao"},
    "ben.okafor@preskool.com": {"accountId": "712020:0a5e1c0002", "displayName": "Ben Okafor"},
    "chen.li@preskool.com": {"accountId": "712020:0a5e1c0003", "displayName": "Chen Li"},
    "dana.whitfield@preskool.com": {"accountId": "712020:0a5e1c0004", "displayName": "Dana Whitfield"},
    "elif.demir@preskool.com": {"accountId": "712020:0a5e1c0005", "displayName": "Elif Demir"},
    "farid.haddad@preskool.com": {"accountId": "712020:0a5e1c0006", "displayName": "Farid Haddad"},
    "grace.mensah@preskool.com": {"accountId": "712020:0a5e1c0007", "displayName": "Grace Mensah"},
}
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
MAX_TEXT = 32_767
_ISSUE = re.compile(r"^/rest/api/3/issue/(?P<key>[^/]+)$")
_META = re.compile(r"^/rest/api/3/issue/createmeta/(?P<project>[^/]+)/issuetypes(?:/(?P<type>[^/]+))?$")
_SYSTEM_FIELDS = {  # fieldId -> (name, required, hasDefaultValue), as createmeta names them
    "project": ("Project", True, False),
    "summary": ("Summary", True, False),
    "issuetype": ("Issue Type", True, False),
    "description": ("Description", False, False),
    "labels": ("Labels", False, False),
    "duedate": ("Due date", False, False),
    "assignee": ("Assignee", False, False),
    "priority": ("Priority", False, True),
    "reporter": ("Reporter", True, True),
    "parent": ("Parent", False, False),
    "components": ("Components", False, False),
}
_ATTACHMENTS = re.compile(r"^/rest/api/3/issue/(?P<key>[^/]+)/attachments$")
_CLAUSE = re.compile(
    r'^\s*(?P<field>[A-Za-z]+)\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[\w.:-]+))\s*$'
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


class Refused(Exception):
    def __init__(self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None):
        super().__init__(messages or errors)
        self.status, self.body = status, {"errorMessages": messages or [], "errors": errors or {}}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "+0000")


class JiraFake(JsonRestFake):
    def __init__(
        self,
        email: str = DEFAULT_EMAIL,
        api_token: str = DEFAULT_TOKEN,
        project: str = DEFAULT_PROJECT,
        users: dict[str, dict] | None = None,
        *,
        create_screen: frozenset[str] | set[str] = CREATE_SCREEN,
        index_delay: float = 0.0,
        issue_types: tuple[dict, ...] | list[dict] = ENGLISH,
        required: dict[str, dict] | None = None,
        components: tuple[str, ...] | list[str] = (),
        **kw,
    ):
        """`users`: email -> {"accountId", "displayName"} and optionally "active" (True),
        "assignable" (True) and "emailHidden" (False: Jira shows the email only if the person's
        profile lets it). The account the client signs in with is a user too. `index_delay`:
        seconds before a new issue shows in search. `issue_types`: the project's types as
        createmeta shows them (ENGLISH, FRENCH, or any {"id", "name", "hierarchyLevel", "subtask"}).
        `required`: custom fields every issue must carry, fieldId -> {"name"} and optionally
        "options" (the values a select list allows). `components`: the project's components (on
        the create screen when there are any)."""
        super().__init__(**kw)
        self.email, self.api_token, self.project = email, api_token, project
        self.users = {e.lower(): dict(u) for e, u in (DEFAULT_USERS if users is None else users).items()}
        self.users.setdefault(
            email.lower(), {"accountId": "712020:0a5e1c0000", "displayName": "PreSkool IRP"}
        )
        self.create_screen, self.index_delay = frozenset(create_screen), index_delay
        self.issue_types = [dict(t) for t in issue_types]
        self.required = {k: dict(v) for k, v in (required or {}).items()}
        self.components = list(components)
        self.issues: dict[str, dict] = {}  # key -> the issue as GET /rest/api/3/issue/{key} shows it
        self.contents: dict[str, bytes] = {}  # attachment id -> the file's bytes
        self._indexed_at: dict[str, float] = {}
        self._ids = itertools.count(10001)
        self._numbers = itertools.count(1)

    # helpers for tests and the demo ----------------------------------------------------------

    def issue_with_label(self, label: str) -> dict | None:
        return next((i for i in self.issues.values() if label in i["fields"]["labels"]), None)

    def reset(self) -> None:
        super().reset()
        self.issues.clear()
        self.contents.clear()
        self._indexed_at.clear()

    def snapshot(self) -> dict:
        return {**super().snapshot(), "issues": list(self.issues.values())}

    # wire ------------------------------------------------------------------------------------

    async def parse(self, request: web.Request, raw: bytes) -> dict:
        """JSON as JsonRestFake; a multipart/form-data body as {"parts": [{name, filename,
        content_type, base64}]} (None when it does not parse as multipart)."""
        if not request.content_type.startswith("multipart/"):
            return await super().parse(request, raw)
        head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        if not message.is_multipart():
            return {"query": dict(request.query), "parts": None}
        parts = [
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "base64": base64.b64encode(part.get_payload(decode=True) or b"").decode(),
            }
            for part in message.iter_parts()
        ]
        return {"query": dict(request.query), "parts": parts}

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        return super().fault_body(status)

    async def handle(self, request: web.Request, params: dict) -> tuple[int, Any, dict]:
        if not self._authenticated(request):
            # Atlassian's gateway, for a wrong email or API token.
            return (
                401,
                {"message": "Client must be authenticated to access this resource.", "status-code": 401},
                {},
            )
        try:
            status, body = self._route(request, params)
            return status, copy.deepcopy(body), {}
        except Refused as e:
            return e.status, e.body, {}

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and decoded == f"{self.email}:{self.api_token}"

    def _route(self, request: web.Request, params: dict) -> tuple[int, Any]:
        path, method, body = request.path.rstrip("/"), request.method, params.get("body")
        if path == "/rest/api/3/issue" and method == "POST":
            return 201, self._create(body)
        if path == "/rest/api/3/search/jql" and method == "POST":
            return 200, self._search(body)
        if path == "/rest/api/3/user/search" and method == "GET":
            return 200, self._user_search(params["query"])
        if (match := _META.match(path)) and method == "GET":
            return 200, self._createmeta(match["project"], match["type"], params["query"])
        if (match := _ATTACHMENTS.match(path)) and method == "POST":
            return 200, self._attach(request, match["key"], params.get("parts"))
        if (match := _ISSUE.match(path)) and method == "GET":
            issue = self.issues.get(match["key"]) or next(
                (i for i in self.issues.values() if i["id"] == match["key"]), None
            )
            if issue is None:
                raise Refused(404, ["Issue does not exist or you do not have permission to see it."])
            return 200, issue
        raise Refused(404, [f"No resource for {method} {request.path}"])

    # issues ----------------------------------------------------------------------------------

    def _create(self, body: Any) -> dict:
        """Validate everything first, so a refused request creates nothing."""
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise Refused(400, ["Issue must be created with fields: the request has no 'fields' object."])
        errors: dict[str, str] = {}
        for name in fields:
            if name not in self.screen():
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                )
        project = fields.get("project")
        if not isinstance(project, dict) or self.project not in (project.get("key"), project.get("id")):
            errors["project"] = "valid project is required"
        kind = self._issue_type(fields.get("issuetype"))
        if kind is None:
            errors["issuetype"] = "Specify a valid issue type"
        errors.update(self._custom_errors(fields))
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            errors["labels"] = "Labels must be a list of strings."
        elif bad := next((label for label in labels if not label or " " in label or len(label) > 255), None):
            errors["labels"] = (
                f"The label '{bad}' contains spaces, is empty or is over 255 characters, which is invalid."
            )
        due = fields.get("duedate")
        if due is not None and not _is_date(due):
            errors["duedate"] = f"Error parsing date string: {due}"
        if "description" in fields and fields["description"] is not None:
            if not isinstance(fields["description"], dict) or adf_problem(fields["description"]) is not None:
                errors["description"] = NOT_ADF
            elif len(json.dumps(fields["description"], ensure_ascii=False, separators=(",", ":"))) > MAX_TEXT:
                errors["description"] = (
                    "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
                )
        assignee, account = fields.get("assignee"), None
        if assignee is not None:
            account_id = assignee.get("accountId") if isinstance(assignee, dict) else None
            account = next((u for u in self.users.values() if u["accountId"] == account_id), None)
            if account is None or not account.get("active", True) or not account.get("assignable", True):
                errors["assignee"] = f"User '{account_id}' cannot be assigned issues."
        if errors:
            raise Refused(400, [], errors)

        issue_id, number, now = str(next(self._ids)), next(self._numbers), _now()
        key = f"{self.project}-{number}"
        self.issues[key] = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "summary": summary,
                "description": fields.get("description"),
                "labels": list(labels),
                "duedate": due,
                "created": now,
                "updated": now,
                "issuetype": {"id": kind["id"], "name": kind["name"], "subtask": kind["subtask"]},
                "components": [{"name": c["name"]} for c in fields.get("components") or []],
                "project": {"id": "10000", "key": self.project, "name": "Incident Response"},
                "status": {"id": "10000", "name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
                "assignee": self._user(account) if account else None,
                "reporter": self._user(self.users[self.email.lower()]),
            },
        }
        self._indexed_at[key] = time.monotonic() + self.index_delay
        return {"id": issue_id, "key": key, "self": self.issues[key]["self"]}

    def screen(self) -> frozenset[str]:
        """The fields the create screen has: the configured ones, the required custom fields, and
        components when the project has any."""
        return self.create_screen | set(self.required) | ({"components"} if self.components else set())

    def _issue_type(self, asked: Any) -> dict | None:
        """The project's type named by `{"id"}` or by `{"name"}` in the site's language."""
        if not isinstance(asked, dict):
            return None
        if "id" in asked:
            return next((t for t in self.issue_types if t["id"] == str(asked["id"])), None)
        return next((t for t in self.issue_types if t["name"] == asked.get("name")), None)

    def _custom_errors(self, fields: dict) -> dict[str, str]:
        """Jira's words for a required field left out, an option it does not allow, an unknown
        component."""
        errors = {}
        for field_id, meta in self.required.items():
            value = fields.get(field_id)
            if value in (None, "", [], {}):
                errors[field_id] = f"{meta['name']} is required."
            elif meta.get("options") and (
                not isinstance(value, dict) or value.get("value") not in meta["options"]
            ):
                errors[field_id] = f"Specify a valid value for {meta['name']}"
        for component in fields.get("components") or []:
            name = component.get("name") if isinstance(component, dict) else None
            if name not in self.components:
                errors["components"] = f"Component name '{name}' is not valid"
        return errors

    def _createmeta(self, project: str, type_id: str | None, query: dict) -> dict:
        """`GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes[/{issueTypeId}]`, paged."""
        if project.upper() != self.project.upper() and project != "10000":
            raise Refused(404, [f"No project could be found with key '{project}'."])
        try:
            start, size = int(query.get("startAt", 0)), max(1, min(200, int(query.get("maxResults", 50))))
        except ValueError:
            raise Refused(400, ["startAt and maxResults must be numbers."]) from None
        if type_id is None:
            items = [
                {**t, "self": f"{self.url}/rest/api/3/issuetype/{t['id']}", "description": ""}
                for t in self.issue_types
            ]
            return {
                "issueTypes": items[start : start + size],
                "maxResults": size,
                "startAt": start,
                "total": len(items),
            }
        if not any(t["id"] == type_id for t in self.issue_types):
            raise Refused(400, ["The issue type selected is invalid."])
        fields = [self._field_meta(f) for f in sorted(self.screen())]
        return {
            "fields": fields[start : start + size],
            "maxResults": size,
            "startAt": start,
            "total": len(fields),
        }

    def _field_meta(self, field_id: str) -> dict:
        if field_id in self.required:
            meta = self.required[field_id]
            shown = {
                "name": meta["name"],
                "required": True,
                "hasDefaultValue": False,
                "schema": {
                    "type": "option" if meta.get("options") else "string",
                    "custom": "x",
                    "customId": int(field_id.rpartition("_")[2] or 0),
                },
            }
            if meta.get("options"):
                shown["allowedValues"] = [
                    {
                        "id": str(20000 + n),
                        "value": v,
                        "self": f"{self.url}/rest/api/3/customFieldOption/{20000 + n}",
                    }
                    for n, v in enumerate(meta["options"])
                ]
        else:
            name, required, default = _SYSTEM_FIELDS.get(field_id, (field_id, False, False))
            shown = {
                "name": name,
                "required": required,
                "hasDefaultValue": default,
                "schema": {"type": "any", "system": field_id},
            }
            if field_id == "components":
                shown["allowedValues"] = [
                    {"id": str(10100 + n), "name": c, "self": f"{self.url}/rest/api/3/component/{10100 + n}"}
                    for n, c in enumerate(self.components)
                ]
        return {"fieldId": field_id, "key": field_id, "operations": ["set"], **shown}

    def _attach(self, request: web.Request, key: str, parts: list[dict] | None) -> list[dict]:
        """Jira's attachments endpoint: the XSRF header, an issue, at least one `file` part."""
        if request.headers.get("X-Atlassian-Token", "").lower() != "no-check":
            raise Refused(403, ["XSRF check failed"])
        issue = self.issues.get(key) or next((i for i in self.issues.values() if i["id"] == key), None)
        if issue is None:
            raise Refused(404, ["Issue does not exist or you do not have permission to see it."])
        files = [p for p in parts or [] if p["name"] == "file" and p["filename"]]
        if not files:
            raise Refused(400, ["The request must hold a multipart part named 'file' with a filename."])
        added = []
        for part in files:
            attachment_id, data = str(next(self._ids)), base64.b64decode(part["base64"])
            added.append(
                {
                    "self": f"{self.url}/rest/api/3/attachment/{attachment_id}",
                    "id": attachment_id,
                    "filename": part["filename"],
                    "author": self._user(self.users[self.email.lower()]),
                    "created": _now(),
                    "size": len(data),
                    "mimeType": part["content_type"],
                    "content": f"{self.url}/rest/api/3/attachment/content/{attachment_id}",
                }
            )
            self.contents[attachment_id] = data
        issue["fields"].setdefault("attachment", []).extend(added)
        return added

    def _search(self, body: Any) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("jql"), str):
            raise Refused(400, ["The request body must be an object with a 'jql' string."])
        clauses = self._jql(body["jql"])
        reconcile = {str(i) for i in body.get("reconcileIssues") or []}
        now = time.monotonic()
        matches = [
            i
            for k, i in self.issues.items()
            if (self._indexed_at[k] <= now or i["id"] in reconcile)
            and all(_holds(i, field, value) for field, value in clauses)
        ]
        matches.reverse()  # no ORDER BY: newest first, as Jira does by default
        try:
            size = max(1, min(5000, int(body.get("maxResults", 50))))
            start = int(body.get("nextPageToken") or 0)
        except (TypeError, ValueError):
            raise Refused(
                400, ["maxResults must be a number and nextPageToken one this server gave."]
            ) from None
        wanted = body.get("fields") or ["id"]
        page = [
            {
                "id": i["id"],
                "key": i["key"],
                "self": i["self"],
                "fields": {f: v for f, v in i["fields"].items() if f in wanted or "*all" in wanted},
            }
            for i in matches[start : start + size]
        ]
        answer: dict[str, Any] = {"issues": page, "isLast": start + size >= len(matches)}
        if not answer["isLast"]:
            answer["nextPageToken"] = str(start + size)
        return answer

    def _jql(self, jql: str) -> list[tuple[str, str]]:
        clauses = []
        for part in _AND.split(jql.strip()):
            match = _CLAUSE.match(part)
            if match is None or match["field"].lower() not in ("project", "labels"):
                raise Refused(
                    400,
                    [
                        f'Error in the JQL Query: this sandbox understands only `project = "X"` and '
                        f'`labels = "Y"` joined by AND, not {part.strip()!r}.'
                    ],
                )
            value = match["bare"] if match["quoted"] is None else re.sub(r"\\(.)", r"\1", match["quoted"])
            if match["field"].lower() == "project" and value.upper() != self.project.upper():
                raise Refused(400, [f"The value '{value}' does not exist for the field 'project'."])
            clauses.append((match["field"].lower(), value))
        return clauses

    # users -----------------------------------------------------------------------------------

    def _user_search(self, query: dict) -> list[dict]:
        q = str(query.get("query") or "").strip().lower()
        if not q:
            raise Refused(400, ["One of 'query', 'accountId' or 'property' must be given."])
        found = [
            u
            for email, u in self.users.items()
            if email.startswith(q)
            or any(w.lower().startswith(q) for w in u["displayName"].split())
            or u["displayName"].lower().startswith(q)
        ]
        try:
            size = max(1, min(1000, int(query.get("maxResults", 50))))
        except ValueError:
            raise Refused(400, ["maxResults must be a number."]) from None
        return [self._user(u) for u in found][:size]

    def _user(self, user: dict) -> dict:
        email = next(e for e, u in self.users.items() if u is user)
        shown = {
            "self": f"{self.url}/rest/api/3/user?accountId={user['accountId']}",
            "accountId": user["accountId"],
            "accountType": "atlassian",
            "displayName": user["displayName"],
            "active": user.get("active", True),
            "timeZone": "Asia/Kolkata",
            "locale": "en_US",
        }
        if not user.get("emailHidden"):
            shown["emailAddress"] = email
        return shown


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _holds(issue: dict, field: str, value: str) -> bool:
    if field == "project":
        return issue["fields"]["project"]["key"].upper() == value.upper()
    return value in issue["fields"]["labels"]  # labels compare exactly


# Atlassian Document Format -------------------------------------------------------------------
# The nodes and marks Jira accepts in a description, checked against the ADF schema's rules
# (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/): the subset
# anything here may send, so an unknown node is refused rather than assumed fine.

_BLOCKS = {"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "rule"}
_INLINES = {"text", "hardBreak", "mention", "emoji", "date", "status", "inlineCard"}
_MARKS = {"strong", "em", "code", "strike", "underline", "link", "subsup", "textColor"}
_LIST_ITEM_CONTENT = {"paragraph", "bulletList", "orderedList", "codeBlock"}


def adf_problem(doc: Any) -> str | None:
    """Why `doc` is not a valid ADF document, or None."""
    if not isinstance(doc, dict) or doc.get("type") != "doc":
        return "the root node must be of type doc"
    if doc.get("version") != 1:
        return "doc.version must be 1"
    if set(doc) - {"type", "version", "content"}:
        return f"doc has unknown keys {sorted(set(doc) - {'type', 'version', 'content'})}"
    return _content(doc, "doc", _BLOCKS, required=True)


def _content(
    node: dict, where: str, allowed: set[str], required: bool = False, non_empty: bool = False
) -> str | None:
    content = node.get("content")
    if content is None and not required and not non_empty:
        return None
    if not isinstance(content, list):
        return f"{where}.content must be an array"
    if non_empty and not content:
        return f"{where}.content must not be empty"
    for n, child in enumerate(content):
        if not isinstance(child, dict) or child.get("type") not in allowed:
            kind = child.get("type") if isinstance(child, dict) else type(child).__name__
            return f"{where}.content[{n}]: {kind!r} is not allowed here"
        if problem := _node(child, f"{where}.content[{n}]"):
            return problem
    return None


def _node(node: dict, where: str) -> str | None:
    kind, attrs = node["type"], node.get("attrs")
    if attrs is not None and not isinstance(attrs, dict):
        return f"{where}.attrs must be an object"
    if kind == "text":
        if not isinstance(node.get("text"), str) or not node["text"]:
            return f"{where}: a text node must have non-empty text"
        return _marks(node, where)
    if kind in ("hardBreak", "rule"):
        return f"{where}: {kind} has no content" if node.get("content") else None
    if kind in ("mention", "emoji", "date", "status", "inlineCard"):
        return None if attrs else f"{where}: {kind} needs attrs"
    if "marks" in node and kind not in ("paragraph", "heading", "codeBlock"):
        return f"{where}: {kind} takes no marks"
    if kind == "paragraph":
        return _content(node, where, _INLINES)
    if kind == "heading":
        level = (attrs or {}).get("level")
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 6:
            return f"{where}: heading needs attrs.level from 1 to 6"
        return _content(node, where, _INLINES)
    if kind == "codeBlock":
        if attrs is not None and not isinstance(attrs.get("language", ""), str | None):
            return f"{where}: codeBlock attrs.language must be a string"
        if problem := _content(node, where, {"text"}):
            return problem
        if any(child.get("marks") for child in node.get("content") or []):
            return f"{where}: text in a codeBlock takes no marks"
        return None
    if kind in ("bulletList", "orderedList"):
        order = (attrs or {}).get("order", 1)
        if kind == "orderedList" and (not isinstance(order, int) or isinstance(order, bool) or order < 0):
            return f"{where}: orderedList attrs.order must be a number of at least 0"
        return _content(node, where, {"listItem"}, non_empty=True)
    if kind == "listItem":
        if problem := _content(node, where, _LIST_ITEM_CONTENT, non_empty=True):
            return problem
        if node["content"][0]["type"] not in ("paragraph", "codeBlock"):
            return f"{where}: a listItem must start with a paragraph or a codeBlock"
        return None
    if kind == "blockquote":
        return _content(node, where, {"paragraph", "bulletList", "orderedList", "codeBlock"}, non_empty=True)
    return f"{where}: unknown node {kind!r}"


def _marks(node: dict, where: str) -> str | None:
    marks = node.get("marks", [])
    if not isinstance(marks, list):
        return f"{where}.marks must be an array"
    kinds = []
    for mark in marks:
        if not isinstance(mark, dict) or mark.get("type") not in _MARKS:
            return f"{where}: unknown mark {mark!r}"
        if mark["type"] == "link" and not isinstance((mark.get("attrs") or {}).get("href"), str):
            return f"{where}: a link mark needs attrs.href"
        kinds.append(mark["type"])
    if len(set(kinds)) != len(kinds):
        return f"{where}: a mark is repeated"
    if "code" in kinds and set(kinds) - {"code", "link"}:
        return f"{where}: the code mark combines only with link"
    return None

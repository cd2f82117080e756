"""Atlassian Statuspage's REST API v1 (https://developer.statuspage.io), the incident part, for
any HTTP client pointed at `fake.url` instead of https://api.statuspage.io.

Held to the published reference: `Authorization: OAuth <key>`, errors as `{"error": ...}`, list
endpoints answering bare JSON arrays, newest first, incidents carrying their components and
their `incident_updates` (newest first, as Statuspage lists them). The `q` search covers what
the reference says it covers (name, status, postmortem body, update bodies) and not `metadata`,
so a client cannot rely on it to find an incident by its metadata. Form-encoded bodies (Rails'
`incident[name]=...`) are not understood: send JSON."""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.base import JsonRestFake

DEFAULT_KEY = "sandbox-statuspage-key"
DEFAULT_PAGE_ID = "sandboxpage01"
DEFAULT_COMPONENTS = {
    "auth-component-id": "Login & Authentication",
    "fees-component-id": "Fee Collection",
    "attendance-component-id": "Attendance",
    "grades-component-id": "Grades",
    "erp-component-id": "PreSkool ERP",
}
INCIDENT_STATUSES = (
    "investigating",
    "identified",
    "monitoring",
    "resolved",  # realtime
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
)  # maintenance
UNRESOLVED = ("investigating", "identified", "monitoring")
COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
IMPACTS = ("none", "maintenance", "minor", "major", "critical")  # least to most severe
IMPACT_OF = {"degraded_performance": "minor", "partial_outage": "major", "major_outage": "critical"}
MAX_PER_PAGE = 100
_ROUTE = re.compile(r"^/v1/pages/(?P<page>[^/]+)/(?P<rest>[^.]*)(?:\.json)?$")


class Refused(Exception):
    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status, self.error = status, error


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(value: Any, default: int, high: int) -> int:
    try:
        return max(1, min(high, int(value)))
    except (TypeError, ValueError):
        return default


class StatuspageFake(JsonRestFake):
    def __init__(
        self,
        *,
        api_keys: set[str] | frozenset[str] = frozenset({DEFAULT_KEY}),
        page_id: str = DEFAULT_PAGE_ID,
        components: dict[str, str] | None = None,
        **kw,
    ):
        """`components`: component id -> name, the page's components (all operational at start)."""
        super().__init__(**kw)
        self.api_keys, self.page_id = set(api_keys), page_id
        self.component_names = dict(components if components is not None else DEFAULT_COMPONENTS)
        self.component_status: dict[str, str] = {}
        self.incidents: dict[str, dict] = {}  # id -> incident as the API shows it, oldest first
        self._ids, self._update_ids = itertools.count(1), itertools.count(1)
        self.reset()

    # helpers for tests and the demo ----------------------------------------------------------

    def incident_for(self, our_incident_id: str) -> dict | None:
        """The Statuspage incident whose metadata names our incident: its id, or an outward id of it
        (`<incident id>.<digest>`, plan/outward.py), the latest made first."""
        return next(
            (
                i
                for i in reversed(list(self.incidents.values()))
                if (named := (i["metadata"].get("preskool_irp") or {}).get("incident_id"))
                and (named == our_incident_id or named.startswith(our_incident_id + "."))
            ),
            None,
        )

    def reset(self) -> None:
        super().reset()
        self.incidents.clear()
        self.component_status = dict.fromkeys(self.component_names, "operational")

    def snapshot(self) -> dict:
        return {
            **super().snapshot(),
            "incidents": list(self.incidents.values()),
            "components": [self._component(c) for c in self.component_names],
        }

    # wire ------------------------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        if status in (420, 429):
            return {"error": "Rate limit exceeded. Please retry later."}
        return super().fault_body(status)

    async def handle(self, request: web.Request, params: dict) -> tuple[int, Any, dict]:
        try:  # a copy: the recorded answer must not change as the incident does
            return 200, copy.deepcopy(self._route(request, params)), {}
        except Refused as e:
            return e.status, {"error": e.error}, {}

    def _route(self, request: web.Request, params: dict) -> Any:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "OAuth" or key not in self.api_keys:
            raise Refused(401, "Could not authenticate")
        match = _ROUTE.match(request.path)
        if match is None or match["page"] != self.page_id:
            raise Refused(404, "Not found")
        rest, method, query = match["rest"].strip("/"), request.method, params["query"]
        if rest == "components" and method == "GET":
            return [self._component(c) for c in self.component_names]
        if rest == "incidents" and method == "GET":
            return self._list(query)
        if rest == "incidents/unresolved" and method == "GET":
            return self._page(
                [i for i in self._newest_first() if i["status"] in UNRESOLVED],
                query.get("page"),
                query.get("per_page"),
            )
        if rest == "incidents" and method == "POST":
            return self._create(self._incident_param(params))
        if rest.startswith("incidents/") and rest.count("/") == 1:
            incident = self.incidents.get(rest.split("/")[1])
            if incident is None:
                raise Refused(404, "Not found")
            if method == "GET":
                return incident
            if method in ("PATCH", "PUT"):
                return self._update(incident, self._incident_param(params))
        raise Refused(404, "Not found")

    # incidents -------------------------------------------------------------------------------

    def _newest_first(self) -> list[dict]:
        return list(reversed(self.incidents.values()))

    @staticmethod
    def _page(items: list[dict], page: Any, per_page: Any) -> list[dict]:
        page, size = _int(page, 1, 10**6), _int(per_page, MAX_PER_PAGE, MAX_PER_PAGE)
        return items[(page - 1) * size : page * size]

    def _list(self, query: dict) -> list[dict]:
        """`q` searches name, status, postmortem_body and the updates' bodies: not metadata."""
        items, q = self._newest_first(), str(query.get("q") or "").lower()
        if q:

            def text(i: dict) -> str:
                return " ".join(
                    [
                        i["name"],
                        i["status"],
                        i.get("postmortem_body") or "",
                        *(u["body"] for u in i["incident_updates"]),
                    ]
                ).lower()

            items = [i for i in items if q in text(i)]
        return self._page(items, query.get("page"), query.get("limit"))

    @staticmethod
    def _incident_param(params: dict) -> dict:
        body = params.get("body")
        incident = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(incident, dict):
            raise Refused(422, "incident is missing or is not an object")
        return incident

    def _create(self, p: dict) -> dict:
        name = str(p.get("name") or "").strip()
        if not name:
            raise Refused(422, "Name can't be blank")
        now = _now()
        number = next(self._ids)
        incident = {
            "id": f"sbxinc{number:06d}",
            "name": name,
            "status": "investigating",
            "impact": "none",
            "impact_override": None,
            "created_at": now,
            "updated_at": now,
            "started_at": now,
            "monitoring_at": None,
            "resolved_at": None,
            "shortlink": f"https://stspg.io/sbx{number:04d}",
            "page_id": self.page_id,
            "metadata": {},
            "postmortem_body": None,
            "components": [],
            "incident_updates": [],
        }
        self._apply(incident, {"status": "investigating", **p}, now)
        self.incidents[incident["id"]] = incident
        return incident

    def _update(self, incident: dict, p: dict) -> dict:
        if "name" in p and not str(p["name"] or "").strip():
            raise Refused(422, "Name can't be blank")
        self._apply(incident, p, _now())
        return incident

    def _apply(self, incident: dict, p: dict, now: str) -> None:
        """Validate everything first, so a refused request changes nothing."""
        status = p.get("status", incident["status"])
        if status not in INCIDENT_STATUSES:
            raise Refused(422, f"Status is not included in the list: {status!r}")
        metadata = p.get("metadata", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, dict) for v in metadata.values()):
            raise Refused(422, "metadata must be an object whose values are objects")
        override = p.get("impact_override", incident["impact_override"])
        if override is not None and override not in IMPACTS:
            raise Refused(422, f"Impact override is not included in the list: {override!r}")
        statuses, ids = p.get("components") or {}, p.get("component_ids")
        if not isinstance(statuses, dict) or not isinstance(ids or [], list):
            raise Refused(422, "components must be an object and component_ids a list")
        for cid in [*statuses, *(ids or [])]:
            if cid not in self.component_names:
                raise Refused(422, f"Component {cid!r} does not belong to page {self.page_id}")
        for value in statuses.values():
            if value not in COMPONENT_STATUSES:
                raise Refused(422, f"Component status is not included in the list: {value!r}")

        affected = [c["id"] for c in incident["components"]] if ids is None else list(ids)
        affected += [c for c in statuses if c not in affected]
        changes = []
        for cid, value in statuses.items():
            if self.component_status[cid] != value:
                changes.append(
                    {
                        "code": cid,
                        "name": self.component_names[cid],
                        "old_status": self.component_status[cid],
                        "new_status": value,
                    }
                )
                self.component_status[cid] = value
        if status != incident["status"] and status == "monitoring":
            incident["monitoring_at"] = now
        if status != incident["status"] and status in ("resolved", "completed"):
            incident["resolved_at"] = now
        incident.update(
            name=str(p.get("name", incident["name"])).strip(),
            status=status,
            updated_at=now,
            impact_override=override,
            metadata={**incident["metadata"], **metadata},
        )
        incident["components"] = [self._component(c) for c in affected]
        worst = [IMPACT_OF.get(self.component_status[c], "none") for c in affected] + [incident["impact"]]
        incident["impact"] = override or max(worst, key=IMPACTS.index)
        if p.get("body"):
            incident["incident_updates"].insert(
                0,
                {
                    "id": f"sbxupd{next(self._update_ids):06d}",
                    "incident_id": incident["id"],
                    "status": status,
                    "body": str(p["body"]),
                    "created_at": now,
                    "updated_at": now,
                    "display_at": now,
                    "affected_components": changes or None,
                    "deliver_notifications": bool(p.get("deliver_notifications", True)),
                    "custom_tweet": None,
                    "tweet_id": None,
                },
            )

    def _component(self, cid: str) -> dict:
        return {
            "id": cid,
            "page_id": self.page_id,
            "group_id": None,
            "name": self.component_names[cid],
            "description": None,
            "position": list(self.component_names).index(cid) + 1,
            "status": self.component_status[cid],
            "showcase": True,
            "only_show_if_degraded": False,
            "group": False,
        }

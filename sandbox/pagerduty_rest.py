"""PagerDuty's REST API v2, the part that says who is on call: `GET /oncalls`, `GET /users/{id}`
and `GET /schedules/{id}` (reference/REST/openapiv3.json of PagerDuty/api-schema). Served by
PagerDutyFake beside Events v2, over the same HTTPS. The query parameters each operation takes
are copied from the spec (the contract test compares them); answers use the spec's shapes,
errors its `{"error": {"code", "message", "errors"}}`. Tests put people on call and hand over."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

# The query parameters of each operation, as the spec names them (paths.<path>.get.parameters).
QUERY_PARAMETERS = {
    "/oncalls": {
        "time_zone",
        "limit",
        "offset",
        "total",
        "include[]",
        "user_ids[]",
        "escalation_policy_ids[]",
        "schedule_ids[]",
        "since",
        "until",
        "earliest",
    },
    "/users/{id}": {"include[]"},
    "/schedules/{id}": {"time_zone", "since", "until", "overflow", "include_next_oncall_for_user"},
}
SITE = "https://preskool.pagerduty.com"
ONE = re.compile(r"^/(users|schedules)/([A-Z0-9]+)$")


@dataclass
class Shift:
    """One on-call: `user_id` holds `escalation_policy_id` at `level`, through `schedule_id` if any."""

    user_id: str
    escalation_policy_id: str
    level: int
    schedule_id: str | None
    start: datetime
    end: datetime


def error(status: int, code: int, message: str, *errors: str) -> tuple[int, dict, dict]:
    return status, {"error": {"code": code, "message": message, "errors": list(errors)}}, {}


class OnCallBook:
    """Users, schedules and who is on call now. `api_tokens` None accepts any REST API key."""

    def __init__(self, api_tokens: set[str] | None = None):
        self.api_tokens = api_tokens
        self.users: dict[str, dict] = {}
        self.schedules: dict[str, str] = {}  # id → name
        self.policies: dict[str, str] = {}  # id → name
        self.shifts: list[Shift] = []

    def reset(self) -> None:
        self.users.clear()
        self.schedules.clear()
        self.policies.clear()
        self.shifts.clear()

    # test controls -------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, email: str) -> None:
        self.users[user_id] = {"name": name, "email": email}

    def put_on_call(
        self,
        user_id: str,
        *,
        schedule: str | None = None,
        escalation_policy: str = "PEP0001",
        level: int = 1,
        schedule_name: str = "Primary rotation",
        policy_name: str = "Engineering",
    ) -> None:
        """`user_id` is on call from now for a week: the shift of the same schedule (or, without
        one, of the same policy level) before it ends now — a handoff."""
        now = datetime.now(UTC).replace(microsecond=0)
        if schedule:
            self.schedules.setdefault(schedule, schedule_name)
        self.policies.setdefault(escalation_policy, policy_name)
        self.shifts = [
            s
            for s in self.shifts
            if not (
                s.schedule_id == schedule and s.escalation_policy_id == escalation_policy and s.level == level
            )
        ]
        self.shifts.append(Shift(user_id, escalation_policy, level, schedule, now, now + timedelta(days=7)))

    def rotate(
        self,
        user_ids: list[str],
        *,
        schedule: str,
        first_ends: datetime,
        every: timedelta = timedelta(hours=8),
        escalation_policy: str = "PEP0001",
        level: int = 1,
        schedule_name: str = "Primary rotation",
        policy_name: str = "Engineering",
    ) -> None:
        """A rotation on `schedule`: `user_ids[0]` on call until `first_ends` (since `every` before
        it), then each next one for `every`, in turn (the schedule's shifts before replaced)."""
        self.schedules[schedule] = schedule_name
        self.policies.setdefault(escalation_policy, policy_name)
        self.shifts = [s for s in self.shifts if s.schedule_id != schedule]
        for i, user_id in enumerate(user_ids):
            start = first_ends + (i - 1) * every
            self.shifts.append(Shift(user_id, escalation_policy, level, schedule, start, start + every))

    # wire ----------------------------------------------------------------------------------------

    def serves(self, request: web.Request) -> bool:
        """GET /oncalls, /users/{id}, /schedules/{id}: the rest is Events v2's."""
        return request.method == "GET" and (request.path == "/oncalls" or bool(ONE.match(request.path)))

    def handle(self, request: web.Request) -> tuple[int, Any, dict]:
        """(status, body, headers) for a request `serves` takes; a REST API key is required."""
        token = request.headers.get("Authorization", "").removeprefix("Token token=")
        if not token or (self.api_tokens is not None and token not in self.api_tokens):
            return error(401, 2006, "Unauthorized")
        if request.path == "/oncalls":
            operation, kind, id_ = "/oncalls", None, None
        else:
            kind, id_ = ONE.match(request.path).groups()
            operation = f"/{kind}/{{id}}"
        unknown = sorted(set(request.query) - QUERY_PARAMETERS[operation])
        if unknown:
            return error(400, 2001, "Invalid Input Provided", *(f"{p} is not a parameter" for p in unknown))
        if kind == "users":
            return self._user(id_)
        if kind == "schedules":
            return self._schedule(id_)
        return self._oncalls(request.query)

    def _oncalls(self, query) -> tuple[int, Any, dict]:
        """The on-calls whose shift overlaps `since`..`until` (both default to now), as PagerDuty
        answers; with `earliest=true`, one per escalation policy, level and user (its earliest)."""
        schedules, policies = query.getall("schedule_ids[]", []), query.getall("escalation_policy_ids[]", [])
        users = query.getall("user_ids[]", [])
        try:
            now = datetime.now(UTC)
            since = datetime.fromisoformat(query["since"]) if "since" in query else now
            until = datetime.fromisoformat(query["until"]) if "until" in query else since
        except ValueError:
            return error(400, 2001, "Invalid Input Provided", "since and until must be ISO 8601 times")
        shown = [
            s
            for s in sorted(self.shifts, key=lambda s: s.start)
            if (not schedules or s.schedule_id in schedules)
            and (not policies or s.escalation_policy_id in policies)
            and (not users or s.user_id in users)
            and s.start <= until
            and s.end > since
        ]
        if query.get("earliest") == "true":
            firsts: dict[tuple, Shift] = {}
            for s in shown:
                firsts.setdefault((s.escalation_policy_id, s.level, s.user_id), s)
            shown = list(firsts.values())
        limit, offset = int(query.get("limit", 25)), int(query.get("offset", 0))
        page = shown[offset : offset + limit]
        body = {"oncalls": [self._oncall(s) for s in page], "limit": limit, "offset": offset}
        return 200, {**body, "more": offset + limit < len(shown)}, {}

    def _oncall(self, s: Shift) -> dict:
        oncall = {
            "user": self._ref("user", s.user_id, self.users.get(s.user_id, {}).get("name", s.user_id)),
            "escalation_policy": self._ref(
                "escalation_policy", s.escalation_policy_id, self.policies[s.escalation_policy_id]
            ),
            "escalation_level": s.level,
            "start": s.start.isoformat(),
            "end": s.end.isoformat(),
        }
        if s.schedule_id:
            oncall["schedule"] = self._ref("schedule", s.schedule_id, self.schedules[s.schedule_id])
        return oncall

    def _user(self, user_id: str) -> tuple[int, Any, dict]:
        user = self.users.get(user_id)
        if user is None:
            return error(404, 2100, "Not Found")
        return (
            200,
            {
                "user": {
                    **self._ref("user", user_id, user["name"]),
                    "type": "user",
                    **user,
                    "time_zone": "UTC",
                }
            },
            {},
        )

    def _schedule(self, schedule_id: str) -> tuple[int, Any, dict]:
        name = self.schedules.get(schedule_id)
        if name is None:
            return error(404, 2100, "Not Found")
        users = list(dict.fromkeys(s.user_id for s in self.shifts if s.schedule_id == schedule_id))
        schedule = {
            **self._ref("schedule", schedule_id, name),
            "type": "schedule",
            "name": name,
            "time_zone": "UTC",
            "users": [self._ref("user", u, self.users.get(u, {}).get("name", u)) for u in users],
            "escalation_policies": [
                self._ref("escalation_policy", p, self.policies[p])
                for p in dict.fromkeys(
                    s.escalation_policy_id for s in self.shifts if s.schedule_id == schedule_id
                )
            ],
        }
        return 200, {"schedule": schedule}, {}

    @staticmethod
    def _ref(kind: str, id_: str, summary: str) -> dict:
        plural = {"user": "users", "schedule": "schedules", "escalation_policy": "escalation_policies"}[kind]
        return {
            "id": id_,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"https://api.pagerduty.com/{plural}/{id_}",
            "html_url": f"{SITE}/{plural}/{id_}",
        }

"""Who is on call, from PagerDuty's REST API v2 (https://developer.pagerduty.com/api-reference/)
through the `pagerduty` library's RestApiV2Client: `GET /oncalls` filtered by the role's schedule
or escalation policy, then `GET /users/{id}` for the person's name and email."""

from __future__ import annotations

import ssl
import threading
from datetime import datetime, timedelta

import pagerduty
from pydantic import Field, SecretStr

from activities.errors import give_up, try_again
from activities.settings import SharedSettings, secret
from plan.models import OnCallSource, Person
from plan.oncall import OnCallPerson

TRANSIENT = (429, 500, 502, 503, 504)
ASKED_SPAN = timedelta(seconds=1)  # GET /oncalls `since`..`until` around the moment asked about


class PagerDutyRestSettings(SharedSettings):
    """PAGERDUTY_API_TOKEN (a REST API key, read-only is enough) turns the look-up on;
    PAGERDUTY_API_URL for a proxy, PagerDuty's EU service region or a fake (https only)."""

    pagerduty_api_url: str = Field(
        "https://api.pagerduty.com",
        description=(
            "PagerDuty's REST API v2 (https only; https://api.eu.pagerduty.com for the EU service region)."
        ),
    )
    pagerduty_api_token: SecretStr | None = Field(
        None,
        description=(
            "A REST API v2 key (read-only is enough): turns on the look-up of who is on call "
            "(`roster.<role>.on_call`)."
        ),
    )


class PagerDutyOnCall:
    """Looks up who is on call. One client per worker, one look at a time (looks are rare); the
    client's own retry loops are bounded, so a look that cannot be answered fails within seconds
    and the roster's person stands in."""

    name = "pagerduty"
    Settings = PagerDutyRestSettings
    enabled_by = ("PAGERDUTY_API_TOKEN",)

    def __init__(self, token: str, api_url: str, ssl_context: ssl.SSLContext):
        """ValueError for a base URL that is not https (the library refuses it)."""
        try:
            self.client = pagerduty.RestApiV2Client(token, base_url=api_url.rstrip("/"), verify=ssl_context)
        except pagerduty.UrlError:
            raise ValueError(f"PAGERDUTY_API_URL must be an https:// URL, not {api_url!r}") from None
        self.client.retry = {status: 1 for status in TRANSIENT}  # one quick retry; never forever
        self.client.sleep_timer = 0.2
        self.client.max_network_attempts = 0
        self.client.timeout = 5.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: PagerDutyRestSettings, people: tuple[Person, ...] = ()
    ) -> PagerDutyOnCall | None:
        """None when PAGERDUTY_API_TOKEN is unset."""
        token = secret(settings.pagerduty_api_token)
        return cls(token, settings.pagerduty_api_url, settings.ssl_context) if token else None

    def on_call(self, source: OnCallSource, at: datetime | None = None) -> OnCallPerson | None:
        """The earliest-level person on call for the schedule or escalation policy (at its level)
        at `at` (None: now; else asked with `since`/`until` around it, and of the on-calls
        PagerDuty answers the one whose shift holds `at`: start ≤ at < end); None when nobody is.
        Raises try_again / give_up worded for the timeline."""
        if source.pagerduty_schedule:
            params = {"schedule_ids[]": [source.pagerduty_schedule], "earliest": "true"}
        else:
            params = {"escalation_policy_ids[]": [source.pagerduty_escalation_policy], "earliest": "true"}
        if at is not None:
            params |= {"since": at.isoformat(), "until": (at + ASKED_SPAN).isoformat()}
        oncalls = self._get("/oncalls", params).get("oncalls") or []
        if source.pagerduty_escalation_policy:
            oncalls = [o for o in oncalls if o.get("escalation_level") == source.escalation_level]
        else:
            oncalls = [o for o in oncalls if (o.get("schedule") or {}).get("id") == source.pagerduty_schedule]
        if at is not None:
            oncalls = [o for o in oncalls if _holds(o, at)] or oncalls
        if not oncalls:
            return None
        chosen = min(oncalls, key=lambda o: (o.get("escalation_level") or 1, o.get("start") or ""))
        user = self._get(f"/users/{chosen['user']['id']}", {})["user"]
        named = chosen.get("schedule") or chosen.get("escalation_policy") or {}
        where = source.describe() + (f" ({named['summary']})" if named.get("summary") else "")
        return OnCallPerson(name=user["name"], email=user["email"], until=chosen.get("end"), where=where)

    def _get(self, path: str, params: dict) -> dict:
        with self._lock:
            try:
                response = self.client.get(path, params=params)
            except pagerduty.HttpError as e:  # 401: a wrong or revoked key (its message shows part of it)
                status = e.response.status_code if e.response is not None else 0
                raise give_up(f"PagerDuty refused GET {path} ({status})") from None
            except pagerduty.Error as e:  # network: its message names the URL, never the key
                raise try_again(f"PagerDuty unreachable ({type(e.__cause__ or e).__name__})") from None
        if response.status_code in TRANSIENT:
            raise try_again(f"PagerDuty answered {response.status_code} to GET {path}")
        if not response.is_success:
            raise give_up(f"PagerDuty refused GET {path} ({response.status_code})")
        try:
            return response.json()
        except ValueError:
            raise try_again(f"PagerDuty's answer to GET {path} was not JSON") from None


def _holds(oncall: dict, at: datetime) -> bool:
    """The on-call's shift holds `at` (start ≤ at < end; no start or end: open on that side)."""
    try:
        start = datetime.fromisoformat(oncall["start"]) if oncall.get("start") else None
        end = datetime.fromisoformat(oncall["end"]) if oncall.get("end") else None
    except (TypeError, ValueError):
        return True  # a time PagerDuty wrote that we cannot read: do not drop the person for it
    return (start is None or start <= at) and (end is None or at < end)

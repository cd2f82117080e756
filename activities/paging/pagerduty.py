"""Paging on PagerDuty: Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview),
through the maintained `pagerduty` client (successor of pdpyras). A person is paged on their
own routing key (the roster's `paging_keys: {pagerduty: ...}`), else on PAGERDUTY_ROUTING_KEY."""

from __future__ import annotations

import ssl
import threading
from contextlib import contextmanager

import pagerduty
from pydantic import Field, SecretStr

from activities.errors import give_up, try_again
from activities.settings import SharedSettings, secret
from plan import Severity
from plan.alert_digest import clip
from plan.models import Person

# Events API v2's documented limits (the whole event is at most 512 KB): the summary's 1,024
# characters, and each detail kept well within the event (the full text stays in the incident).
MAX_SUMMARY = 1024
MAX_DETAIL = 16 * 1024
# Events v2 severities for the plan's levels.
EVENT_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
TRANSIENT = (429, 500, 502, 503, 504)


class PagerDutySettings(SharedSettings):
    """PAGERDUTY_EVENTS_URL, and PAGERDUTY_ROUTING_KEY for anyone without their own in the roster."""

    pagerduty_events_url: str = Field(
        "https://events.pagerduty.com",
        description="PagerDuty's Events API v2 (https only).",
    )
    pagerduty_routing_key: SecretStr | None = Field(
        None,
        description="The Events v2 routing key for anyone without their own in the roster's paging_keys.",
    )


class PagerDutyPager:
    """Triggers and resolves pages. A repeated dedup key updates the open alert, so retries never
    page twice. The client's own retry loops are bounded: Temporal owns the backoff."""

    name = "pagerduty"
    Settings = PagerDutySettings
    enabled_by = ("PAGERDUTY_ROUTING_KEY",)
    enabled_note = "or a roster paging key, e.g. PAGERDUTY_ROUTING_KEY_IC"

    def __init__(self, events_url: str, ssl_context: ssl.SSLContext, default_routing_key: str | None = None):
        self.events_url = events_url.rstrip("/")
        self.ssl_context, self.default_routing_key = ssl_context, default_routing_key
        self._idle: dict[str, list[pagerduty.EventsApiV2Client]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: PagerDutySettings, people: tuple[Person, ...] = ()
    ) -> PagerDutyPager | None:
        """None (not configured) when there is no routing key at all: neither PAGERDUTY_ROUTING_KEY
        nor anyone's own in the roster."""
        pager = cls(
            settings.pagerduty_events_url, settings.ssl_context, secret(settings.pagerduty_routing_key)
        )
        return pager if pager.default_routing_key or any(pager.routing_key(p) for p in people) else None

    def routing_key(self, person: Person | None) -> str | None:
        """The person's own key, else the default."""
        own = person.paging_keys.get(self.name) if person else None
        return (own.get_secret_value() if own else "") or self.default_routing_key

    def unreachable(self, person: Person | None) -> str | None:
        """ "no PagerDuty routing key" when neither the person nor the default has one."""
        return None if self.routing_key(person) else "no PagerDuty routing key"

    @contextmanager
    def _client(self, routing_key: str):
        """A kept client for the routing key: its connection (and TLS session) is reused, so a page
        costs one request, not a handshake too. Pages never wait for each other: a busy client is
        not shared, another is made (and kept)."""
        with self._lock:
            idle = self._idle.setdefault(routing_key, [])
            client = idle.pop() if idle else None
        client = client or self._new_client(routing_key)
        try:
            yield client
        finally:
            with self._lock:
                self._idle[routing_key].append(client)

    def _new_client(self, routing_key: str) -> pagerduty.EventsApiV2Client:
        client = pagerduty.EventsApiV2Client(routing_key, base_url=self.events_url, verify=self.ssl_context)
        client.retry = {status: 1 for status in TRANSIENT}  # one quick retry, then let Temporal back off
        client.sleep_timer = 0.2
        client.max_network_attempts = 0
        client.timeout = 10.0  # within the workflow's 15 s per attempt
        return client

    def trigger(
        self,
        *,
        person: Person | None,
        dedup_key: str,
        summary: str,
        source: str,
        severity: Severity,
        details: dict[str, str],
        links: dict[str, str],
    ) -> str:
        """An Events v2 `trigger` (summary cut to its 1024 characters); PagerDuty's dedup key."""
        with self._client(self._key(person)) as client:
            return self._call(
                lambda: client.trigger(
                    clip(summary, MAX_SUMMARY - 60),
                    clip(source, 255),
                    dedup_key=dedup_key,
                    severity=EVENT_SEVERITY[severity],
                    custom_details={k: clip(v, MAX_DETAIL) for k, v in details.items()},
                    links=[{"href": href, "text": text} for text, href in links.items()],
                )
            )

    def resolve(self, *, person: Person | None, dedup_key: str) -> str:
        """An Events v2 `resolve` of the alert with `dedup_key`."""
        with self._client(self._key(person)) as client:
            return self._call(lambda: client.resolve(dedup_key))

    def _key(self, person: Person | None) -> str:
        key = self.routing_key(person)
        if not key:
            raise give_up("no PagerDuty routing key")
        return key

    @staticmethod
    def _call(send):
        try:
            return send()
        except pagerduty.HttpError as e:
            status = e.response.status_code if e.response is not None else 0
            if status in TRANSIENT:
                raise try_again(f"PagerDuty answered {status}") from None
            said = e.response.text[:300] if e.response is not None else e
            raise give_up(f"PagerDuty refused the event ({status}): {said}") from None
        except pagerduty.Error as e:
            raise try_again(f"PagerDuty unreachable: {e}") from None

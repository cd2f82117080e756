"""PagerDuty Events API v2, through the maintained `pagerduty` client (successor of pdpyras)."""

from __future__ import annotations

import ssl
import threading
from contextlib import contextmanager

import pagerduty

from activities.errors import give_up, try_again

# Events v2 severities for the plan's levels.
EVENT_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
TRANSIENT = (429, 500, 502, 503, 504)


class PagerDutyPager:
    """Triggers and resolves pages. A repeated dedup key updates the open alert, so retries never
    page twice. The client's own retry loops are bounded: Temporal owns the backoff."""

    name = "pagerduty"

    def __init__(self, events_url: str, ssl_context: ssl.SSLContext):
        self.events_url = events_url.rstrip("/")
        self.ssl_context = ssl_context
        self._idle: dict[str, list[pagerduty.EventsApiV2Client]] = {}
        self._lock = threading.Lock()

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

    def trigger(self, *, routing_key: str, dedup_key: str, summary: str, source: str, severity: str,
                custom_details: dict, links: list[dict]) -> str:
        with self._client(routing_key) as client:
            return self._call(lambda: client.trigger(
                summary[:1024], source, dedup_key=dedup_key, severity=EVENT_SEVERITY[severity],
                custom_details=custom_details, links=links))

    def resolve(self, *, routing_key: str, dedup_key: str) -> str:
        with self._client(routing_key) as client:
            return self._call(lambda: client.resolve(dedup_key))

    @staticmethod
    def _call(send):
        try:
            return send()
        except pagerduty.HttpError as e:
            status = e.response.status_code if e.response is not None else 0
            if status in TRANSIENT:
                raise try_again(f"PagerDuty answered {status}") from None
            raise give_up(f"PagerDuty refused the event ({status}): {e.response.text[:300] if e.response is not None else e}") from None
        except pagerduty.Error as e:
            raise try_again(f"PagerDuty unreachable: {e}") from None

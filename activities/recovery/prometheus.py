"""Recovery checks on Prometheus: its HTTP API (instant queries, `GET /api/v1/query`,
https://prometheus.io/docs/prometheus/latest/querying/api/) over httpx."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
from pydantic import Field

from activities.errors import give_up, try_again
from activities.settings import SharedSettings
from plan.models import Person

# errorType values a retry cannot fix: the query itself is wrong or cannot run.
FINAL_ERROR_TYPES = {"bad_data", "execution", "not_found", "not_acceptable"}


class PrometheusSettings(SharedSettings):
    """PROMETHEUS_URL, e.g. `http://prometheus:9090`; unset → the gate cannot verify."""

    prometheus_url: str | None = Field(
        None,
        description=(
            "Prometheus (e.g. http://prometheus:9090) for the §4.5 recovery checks; unset, the resolve "
            "gate cannot verify and every resolve must be forced."
        ),
    )


class Prometheus:
    """Instant PromQL queries against one Prometheus (the `Metrics` port)."""

    name = "prometheus"
    Settings = PrometheusSettings
    enabled_by = ("PROMETHEUS_URL",)

    def __init__(self, url: str, ssl_context: ssl.SSLContext):
        self.endpoint = url.rstrip("/") + "/api/v1/query"
        self.ssl_context = ssl_context

    @classmethod
    def from_settings(
        cls, settings: PrometheusSettings, people: tuple[Person, ...] = ()
    ) -> Prometheus | None:
        """None when PROMETHEUS_URL is unset."""
        return cls(settings.prometheus_url, settings.ssl_context) if settings.prometheus_url else None

    async def query(self, promql: str) -> list[tuple[dict, float]]:
        """Each sample's labels and value, evaluated now. A scalar is one sample without labels.
        Values keep Prometheus's specials: "NaN" (e.g. 0/0, no traffic) and "+Inf" parse to floats."""
        try:
            async with httpx.AsyncClient(verify=self.ssl_context, timeout=15) as client:
                response = await client.get(self.endpoint, params={"query": promql})
        except httpx.TransportError as e:
            raise try_again(f"Prometheus unreachable: {type(e).__name__} {e}") from None
        body = _json(response)
        if body.get("status") == "error":
            said = f"Prometheus refused the query ({body.get('errorType')}): {body.get('error')}"
            raise (give_up if body.get("errorType") in FINAL_ERROR_TYPES else try_again)(said)
        if response.status_code == 429 or response.status_code >= 500:
            raise try_again(f"Prometheus answered {response.status_code}: {response.text[:300]}")
        if not response.is_success or body.get("status") != "success":
            raise give_up(f"Prometheus answered {response.status_code}: {response.text[:300]}")
        data = body["data"]
        if data["resultType"] == "vector":
            return [(sample["metric"], float(sample["value"][1])) for sample in data["result"]]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        raise give_up(
            f"Prometheus answered a {data['resultType']}: a check needs an instant vector or a scalar"
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    """The envelope, or {} for what a proxy in front of Prometheus says (text, HTML)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

"""The status page on Atlassian Statuspage: REST API v1 (https://developer.statuspage.io) over httpx."""

from __future__ import annotations

import ssl
from datetime import datetime
from typing import Any

import httpx
from pydantic import Field, SecretStr
from temporalio.exceptions import ApplicationError

from activities.errors import give_up, try_again
from activities.settings import SharedSettings, secret
from activities.status_page import StatusPageResult, StatusPageUpdate
from plan.models import Person

METADATA_KEY = "preskool_irp"
PER_PAGE = 100  # the API's maximum
MAX_UNRESOLVED_PAGES = 10


class StatuspageSettings(SharedSettings):
    """STATUSPAGE_API_KEY and STATUSPAGE_PAGE_ID turn it on; STATUSPAGE_API_URL for a proxy or a fake."""

    statuspage_api_url: str = Field(
        "https://api.statuspage.io",
        description="Statuspage's API, or a proxy or the sandbox in its place.",
    )
    statuspage_api_key: SecretStr | None = Field(
        None,
        description="A Statuspage API key; with STATUSPAGE_PAGE_ID it turns status page updates on.",
    )
    statuspage_page_id: str | None = Field(
        None,
        description="The Statuspage page whose incidents and components are updated.",
    )


class Statuspage:
    """Incidents on one Statuspage page. Ours carry `metadata.preskool_irp.incident_id`, the only
    link between the two ids, so a retried create finds the first incident instead of opening a
    second one. Statuspage's `q` search does not look at metadata: finding means listing and
    matching, first the unresolved incidents, then the most recent ones (resolved included)."""

    name = "statuspage"
    Settings = StatuspageSettings
    enabled_by = ("STATUSPAGE_API_KEY", "STATUSPAGE_PAGE_ID")

    def __init__(self, api_url: str, api_key: str, page_id: str, ssl_context: ssl.SSLContext):
        self.base = f"{api_url.rstrip('/')}/v1/pages/{page_id}"
        self.api_key, self.ssl_context = api_key, ssl_context

    @classmethod
    def from_settings(
        cls, settings: StatuspageSettings, people: tuple[Person, ...] = ()
    ) -> Statuspage | None:
        """None unless both STATUSPAGE_API_KEY and STATUSPAGE_PAGE_ID are set."""
        key = secret(settings.statuspage_api_key)
        if not key or not settings.statuspage_page_id:
            return None
        return cls(settings.statuspage_api_url, key, settings.statuspage_page_id, settings.ssl_context)

    async def publish(self, update: StatusPageUpdate) -> StatusPageResult:
        """`_publish`; a component the page does not have (a stale id in the policy) is an
        enrichment, not the message: the update goes out without components, and says so."""
        try:
            return await self._publish(update)
        except ApplicationError as e:
            if not update.components or not e.non_retryable or "omponent" not in e.message:
                raise
            refused = e.message
        result = await self._publish(update.model_copy(update={"components": {}}))
        return result.model_copy(update={"note": f"posted without its component ({refused})"})

    async def _publish(self, update: StatusPageUpdate) -> StatusPageResult:
        """Create or update, found by our incident id each time, so every retry is safe: an update
        that is already there (its answer was lost) is not posted again, which would notify the
        page's subscribers twice."""
        fields = {"name": update.title, "status": update.status, "body": update.body}
        found = await self.find(update.incident_id)
        if found is None:
            created = await self.create_incident(update.incident_id, components=update.components, **fields)
            return StatusPageResult(statuspage_incident_id=created, created=True)
        components = update.components
        if not components and update.status == "resolved":  # §5.3 Resolved: "Status: Operational"
            components = {c["id"]: "operational" for c in found.get("components") or []}
        if already_says(found, update, components):
            # Our earlier attempt did it; if that was the create, the incident has only its update.
            return StatusPageResult(
                statuspage_incident_id=found["id"], created=len(found.get("incident_updates") or []) <= 1
            )
        await self.update_incident(found["id"], components=components, **fields)
        return StatusPageResult(statuspage_incident_id=found["id"])

    async def find(self, incident_id: str) -> dict | None:
        """The Statuspage incident (as the API shows it) that our incident opened, if any."""
        for page in range(1, MAX_UNRESOLVED_PAGES + 1):
            batch = await self._request(
                "GET", "/incidents/unresolved", params={"page": page, "per_page": PER_PAGE}
            )
            if found := _ours(batch, incident_id):
                return found
            if len(batch) < PER_PAGE:
                break
        recent = await self._request("GET", "/incidents", params={"limit": PER_PAGE, "page": 1})
        return _ours(recent, incident_id)

    async def create_incident(
        self, incident_id: str, *, name: str, status: str, body: str, components: dict[str, str]
    ) -> str:
        """`POST /incidents` tagged with our incident id in its metadata, notifying subscribers;
        the new incident's id. `components`: component id -> status."""
        created = await self._request(
            "POST",
            "/incidents",
            json={
                "incident": {
                    "name": name,
                    "status": status,
                    "body": body,
                    "component_ids": list(components),
                    "components": components,
                    "metadata": {METADATA_KEY: {"incident_id": incident_id}},
                    "deliver_notifications": True,
                }
            },
        )
        return created["id"]

    async def update_incident(
        self, statuspage_id: str, *, name: str, status: str, body: str, components: dict[str, str]
    ) -> None:
        """`PATCH /incidents/{id}`: a new incident update, notifying subscribers."""
        incident: dict[str, Any] = {
            "name": name,
            "status": status,
            "body": body,
            "deliver_notifications": True,
        }
        if components:  # else the incident keeps the components it has
            incident["components"] = components
        await self._request("PATCH", f"/incidents/{statuspage_id}", json={"incident": incident})

    async def _request(self, method: str, path: str, **kwargs) -> Any:
        what = f"{method} {path}"
        try:
            async with httpx.AsyncClient(
                verify=self.ssl_context, timeout=15, headers={"Authorization": f"OAuth {self.api_key}"}
            ) as client:
                response = await client.request(method, self.base + path, **kwargs)
        except httpx.TransportError as e:
            raise try_again(self._hide(f"Statuspage unreachable ({what}): {type(e).__name__} {e}")) from None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise try_again(f"Statuspage answered {what} with a body that is not JSON") from None
        said = self._hide(f"Statuspage answered {what} with {response.status_code}: {_error(response)}")
        # 420 and 429 are Statuspage's rate limit (1 request/s per key over a 60 s window).
        if response.status_code in (420, 429) or response.status_code >= 500:
            raise try_again(said)
        raise give_up(said)

    def _hide(self, message: str) -> str:
        return message.replace(self.api_key, "***") if self.api_key else message


def already_says(incident: dict, update: StatusPageUpdate, components: dict[str, str]) -> bool:
    """Whether the Statuspage incident already shows `update`: name, status, latest body and the
    components' statuses."""
    updates = incident.get("incident_updates") or []
    latest = max(updates, key=lambda u: datetime.fromisoformat(u["created_at"]), default={})
    now = {c["id"]: c.get("status") for c in incident.get("components") or []}
    return (
        incident.get("name") == update.title
        and incident.get("status") == update.status
        and latest.get("body") == update.body
        and all(now.get(k) == v for k, v in components.items())
    )


def _ours(incidents: Any, incident_id: str) -> dict | None:
    for incident in incidents if isinstance(incidents, list) else []:
        mine = (incident.get("metadata") or {}).get(METADATA_KEY) or {}
        if isinstance(mine, dict) and mine.get("incident_id") == incident_id:
            return incident
    return None


def _error(response: httpx.Response) -> str:
    """Statuspage's `{"error": ...}` (a string or a list), else the start of the body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, list):
        error = "; ".join(map(str, error))
    return str(error or response.text[:300] or response.reason_phrase)

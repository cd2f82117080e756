"""What the Temporal UI can filter incidents by: `Severity = 'P0' AND IncidentStatus = 'open'`.
Registered by `make up` (and the tests); kept current by the incident as it changes."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

SEVERITY = SearchAttributeKey.for_keyword("Severity")
PHASE = SearchAttributeKey.for_keyword("Phase")
MODULE = SearchAttributeKey.for_keyword("Module")
TENANT = SearchAttributeKey.for_keyword_list("Tenant")
INCIDENT_STATUS = SearchAttributeKey.for_keyword("IncidentStatus")
KEYS = (SEVERITY, PHASE, MODULE, TENANT, INCIDENT_STATUS)


def upsert(*, severity: str | None, phase: str, module: str | None, tenants: list[str], status: str) -> None:
    """Keep the incident's search attributes current (status: open, review or closed)."""
    workflow.upsert_search_attributes(
        [
            SEVERITY.value_set(severity) if severity else SEVERITY.value_unset(),
            PHASE.value_set(phase),
            MODULE.value_set(module) if module else MODULE.value_unset(),
            TENANT.value_set(tenants) if tenants else TENANT.value_unset(),
            INCIDENT_STATUS.value_set(status),
        ]
    )

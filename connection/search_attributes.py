"""The incident's search attributes (workflows/search.py) on the server: the worker registers them
at start, the dev server is started with them, and an operator can create them by hand.

An unregistered attribute makes the incident's workflow task fail and retry forever, so the worker
refuses to start when it cannot register them, and says the command that would (`create_command`)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.search import KEYS

# Each attribute's type as the `temporal` CLI spells it (`--search-attribute Severity=Keyword`).
SEARCH_ATTRIBUTES = {
    k.name: {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList"}[k.indexed_value_type.name] for k in KEYS
}


def create_command() -> str:
    """The `temporal operator search-attribute create` command that registers every attribute, each
    `--name` followed by its own `--type` (CLI 1.9.1 pairs them in order; several names before one
    type register only the first)."""
    pairs = " ".join(f"--name {name} --type {kind}" for name, kind in SEARCH_ATTRIBUTES.items())
    return f"temporal operator search-attribute create {pairs}"


async def register_search_attributes(client: Client) -> None:
    """Add the incident's search attributes (workflows/search.py) to the client's namespace where
    they are missing (the worker at start, the tests). RPCError when the server refuses."""
    try:
        existing = set(
            (
                await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=client.namespace)
                )
            ).custom_attributes
        )
    except RPCError as e:  # the time-skipping test server can add but not list
        if e.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in KEYS if k.name not in existing
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        except RPCError as e:
            if e.status is not RPCStatusCode.ALREADY_EXISTS:
                raise

"""Connecting to Temporal: an existing cluster when TEMPORAL_ADDRESS is set, else the embedded one."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

EMBEDDED_ADDRESS = "localhost:7233"


class TemporalSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "incident-response"

    @property
    def address(self) -> str:
        return self.temporal_address or EMBEDDED_ADDRESS


async def connect(settings: TemporalSettings | None = None) -> Client:
    settings = settings or TemporalSettings()
    return await Client.connect(settings.address, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter)


async def register_search_attributes(client: Client) -> None:
    """The incident's search attributes (workflows/search.py), on a server that lacks them."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    from workflows.search import KEYS

    try:
        existing = set((await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace))).custom_attributes)
    except RPCError as e:  # the time-skipping test server can add but not list
        if e.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in KEYS if k.name not in existing}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing))
        except RPCError as e:
            if e.status is not RPCStatusCode.ALREADY_EXISTS:
                raise


def exit_now(code: int = 0) -> None:
    """End a short-lived client process without interpreter teardown: the SDK's Rust runtime
    threads can abort CPython's finalization (temporalio/sdk-python#300, SIGABRT at exit)."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

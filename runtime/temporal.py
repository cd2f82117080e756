"""Connecting to Temporal: an existing cluster when TEMPORAL_ADDRESS is set, else the embedded one."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

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


def exit_now(code: int = 0) -> None:
    """End a short-lived client process without interpreter teardown: the SDK's Rust runtime
    threads can abort CPython's finalization (temporalio/sdk-python#300, SIGABRT at exit)."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

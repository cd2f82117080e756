"""Warn when this CLI's payload key is not the one the workers seal with: a signal sealed with a
key the workers lack is refused by the incident (its timeline names the key), so say it first."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHandle

from connection.codec import KEY_ID, EncryptionCodec

WRITTEN_BY_WORKERS = {
    "activity_task_scheduled_event_attributes",
    "activity_task_completed_event_attributes",
    "marker_recorded_event_attributes",
    "workflow_execution_update_completed_event_attributes",
}


async def key_mismatch(handle: WorkflowHandle, codec: EncryptionCodec | None) -> str | None:
    """A warning when the incident's newest sealed payload (written by a worker) carries a key id
    this client's IRP_PAYLOAD_KEY is not; None when they agree or nothing is sealed."""
    workers = None
    async for event in handle.fetch_history_events():
        if event.WhichOneof("attributes") not in WRITTEN_BY_WORKERS:
            continue  # a start, a signal or an update's input is sealed by whoever sent it
        for payload in payloads_in(event):
            if KEY_ID in payload.metadata:
                workers = payload.metadata[KEY_ID].decode(errors="replace")
    if workers is None or (codec and workers == codec.key_id):
        return None
    mine = codec.key_id if codec else "none (IRP_PAYLOAD_KEY unset)"
    return (
        f"warning: the workers seal this incident with payload key {workers}; yours is {mine}. Unless the "
        f"workers have your key in IRP_PAYLOAD_OLD_KEYS, the incident refuses what you send (its timeline "
        f"says so): use the workers' key."
    )


NOT_CODED = {"search_attributes", "header"}  # the server indexes these; the SDK never runs a codec on them
PAYLOAD_TYPE = Payload.DESCRIPTOR.full_name


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a history event (or any proto), but search attributes and headers."""
    for field, value in message.ListFields():
        if field.name in NOT_CODED or field.message_type is None:
            continue
        is_map = field.message_type.GetOptions().map_entry
        if is_map:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is None:
                continue
            items = list(value.values())
            is_payload = value_field.message_type.full_name == PAYLOAD_TYPE
        else:
            items = list(value) if field.is_repeated else [value]
            is_payload = field.message_type.full_name == PAYLOAD_TYPE
        for item in items:
            if is_payload:
                yield item
            else:
                yield from payloads_in(item)

"""What `make demo` prints of the sandbox Slack (devstack/demo.py `posts_by_place`): a newcomer's
friction (issue 23) was direct messages — post-mortem invitations, claim prompts — printed under
"Bridge" as if the bot had posted the same text there five times."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import WorkflowExecutionStatus

from devstack.demo import posts_by_place


def call(channel: str, text: str, status: int = 200, path: str = "/api/chat.postMessage") -> dict:
    return {"path": path, "status": status, "params": {"channel": channel, "text": text}}


def test_direct_messages_are_apart_from_the_bridge_and_the_same_text_is_one_line():
    slack = {
        "channels": [
            {"id": "C0BRIDGE", "name": "preskool-incident-2026-12-07"},
            {"id": "C0ALERTS", "name": "preskool-alerts"},
            {"id": "D0000001", "name": "U0IC000001"},
            {"id": "D0000002", "name": "U0ENGLEAD1"},
        ],
        "calls": [
            call("C0BRIDGE", "🚨 INCIDENT OPENED"),
            *(call(f"D000000{n}", "📅 Post-mortem invitation") for n in (1, 2)),
            call("U0COMMS001", "📅 Post-mortem invitation"),
            call("D0000002", "🔐 Sent in your name: confirm?"),
            call("C0ALERTS", "the alerting pipeline is silent"),
            call("C0BRIDGE", "refused by Slack", status=429),
            call("C0BRIDGE", "🔴 UPDATE", path="/api/chat.update"),
            call("C0BRIDGE", "✅ RESOLVED"),
        ],
    }
    channels, direct = posts_by_place(slack)
    assert channels == {
        "preskool-incident-2026-12-07": ["🚨 INCIDENT OPENED", "✅ RESOLVED"],
        "preskool-alerts": ["the alerting pipeline is silent"],
    }
    assert direct == {
        "📅 Post-mortem invitation": ["U0IC000001", "U0ENGLEAD1", "U0COMMS001"],
        "🔐 Sent in your name: confirm?": ["U0ENGLEAD1"],
    }


async def test_a_drill_beside_a_running_stack_ends_its_incident_with_the_demo(dev_env, monkeypatch, capsys):
    """A newcomer's friction (issue 23): `make demo` run while `make up` ran left its P0 on the
    drill's own task queue, which nothing serves once the demo's worker stops. On a server it did
    not start, the demo ends its incident as it exits, with the reason in the Web UI."""
    from devstack.demo import close_drill
    from plan.incident import IncidentInput
    from workflows import IncidentWorkflow

    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    queue = f"incident-response-drill-{uuid.uuid4().hex[:6]}"
    handle = await dev_env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=f"inc-{queue[-6:]}"),
        id=f"inc-{queue[-6:]}",
        task_queue=queue,
    )
    await asyncio.to_thread(close_drill, handle.id, queue)
    described = await handle.describe()
    assert described.status is WorkflowExecutionStatus.TERMINATED
    assert f"is ended (drill over: the demo's worker (task queue {queue}) stopped" in capsys.readouterr().out

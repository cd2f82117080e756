"""`irp heartbeat status|retire HEARTBEAT`: the dead man's switch from the command line
(docs/integrations.md, "The dead man's switch")."""

from __future__ import annotations

import argparse
import asyncio
import json

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError

from cli import outcomes
from plan.heartbeat import Retirement
from workflows import HeartbeatWorkflow


def add_heartbeat_commands(sub) -> None:
    """`heartbeat status HEARTBEAT` and `heartbeat retire HEARTBEAT --by EMAIL --reason TEXT`."""
    h = sub.add_parser("heartbeat", help="the dead man's switch: a heartbeat's status, or retire it")
    commands = h.add_subparsers(dest="heartbeat_command", required=True)
    commands.add_parser("status", help="a heartbeat's pipeline, peers, window and alarms").add_argument(
        "heartbeat"
    )
    r = commands.add_parser(
        "retire",
        help="end a heartbeat whose pipeline is gone for good: its open page is resolved, the alerts "
        "channel told once (it never ends by itself: a long silence is what it pages about)",
    )
    r.add_argument("heartbeat", help="its id, heartbeat-p-… (the Web UI lists them)")
    r.add_argument("--by", required=True, help="email of who retires it")
    r.add_argument("--reason", required=True, help="why its pipeline is gone (kept in its state)")
    for command in commands.choices.values():
        command.add_argument("--wait", type=float, default=10.0, help="seconds to wait for its answer")


async def heartbeat_command(client: Client, args: argparse.Namespace) -> int:
    """Do `irp heartbeat …`; its exit code (cli/outcomes.py). A refused retirement raises
    WorkflowUpdateFailedError (printed as refused by cli/main.py)."""
    handle = client.get_workflow_handle(args.heartbeat)
    try:
        if args.heartbeat_command == "status":
            status = await asyncio.wait_for(handle.query(HeartbeatWorkflow.status), args.wait)
            print(json.dumps(status.model_dump(mode="json"), indent=2, ensure_ascii=False))
            return outcomes.OK
        retirement = Retirement(by=args.by, reason=args.reason)
        await handle.describe()  # a clear "not found" before sending into nothing
        await asyncio.wait_for(handle.execute_update(HeartbeatWorkflow.retire, retirement), args.wait)
        await asyncio.wait_for(handle.result(), args.wait)  # its page resolved, the channel told
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        print(f"no answer from {args.heartbeat} within {args.wait:g} s: is a worker running?")
        return outcomes.NO_ANSWER
    print(f"retired: {args.heartbeat} ({args.reason})")
    return outcomes.OK

"""Talk to incidents from the command line.

  python starter.py alert FILE                     start/join from an Alertmanager payload, as the webhook would
  python starter.py declare --summary TEXT [--severity P1] [--impact TEXT] [--reporter EMAIL] [--module fees]
  python starter.py status INCIDENT                the incident's status as JSON
  python starter.py signal INCIDENT NAME JSON      send a signal, e.g. acknowledge '{"by": "ben.okafor@preskool.com"}'
  python starter.py list                           open incidents
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from plan import AlertmanagerDelivery, Declaration, PolicyError, load_policy
from runtime.intake import declare_incident, deliver_alerts
from runtime.temporal import TemporalSettings, connect, exit_now
from workflows import IncidentWorkflow


async def run(args: argparse.Namespace) -> None:
    settings = TemporalSettings()
    client = await connect(settings)
    if args.command == "alert":
        delivery = AlertmanagerDelivery.model_validate_json(Path(args.file).read_bytes())
        receipt = await deliver_alerts(client, settings.temporal_task_queue, load_policy(), delivery)
        show(receipt.model_dump(mode="json") if receipt else {"incidents": [], "note": "no open incident for this group"})
    elif args.command == "declare":
        declaration = Declaration(summary=args.summary, impact=args.impact, severity=args.severity,
                                  reporter=args.reporter, source=args.source, module=args.module)
        show((await declare_incident(client, settings.temporal_task_queue, load_policy(), declaration)).model_dump(mode="json"))
    elif args.command == "status":
        status = await client.get_workflow_handle(args.incident).query(IncidentWorkflow.status)
        show(status.model_dump(mode="json"))
    elif args.command == "signal":
        await client.get_workflow_handle(args.incident).signal(args.name, json.loads(args.json))
        print(f"sent {args.name} to {args.incident}; `python starter.py status {args.incident}` shows the outcome")
    elif args.command == "list":
        query = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running'"
        async for wf in client.list_workflows(query):
            print(f"{wf.id}\t{wf.start_time:%Y-%m-%d %H:%M UTC}\t{await wf.memo_value('summary', '')}")


def show(data: dict) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="preskool-irp: incidents from the command line", epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("alert", help="start or join an incident from an Alertmanager payload file").add_argument("file")
    d = sub.add_parser("declare", help="declare an incident (customer report, health check)")
    d.add_argument("--summary", required=True)
    d.add_argument("--impact", default="")
    d.add_argument("--severity", choices=["P0", "P1", "P2", "P3"])
    d.add_argument("--reporter", default="oncall@preskool.com", help="email of who declares it")
    d.add_argument("--source", default="manual", help="zendesk, school-email, uptimerobot, …")
    d.add_argument("--module")
    sub.add_parser("status", help="an incident's status").add_argument("incident")
    s = sub.add_parser("signal", help="send a signal (one JSON object)")
    s.add_argument("incident")
    s.add_argument("name")
    s.add_argument("json")
    sub.add_parser("list", help="open incidents")
    return p


def main() -> None:
    args = parser().parse_args()
    try:
        asyncio.run(run(args))
        exit_now(0)
    except (ValidationError, PolicyError, json.JSONDecodeError, OSError) as e:
        error = str(e)
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            error = f"no incident {getattr(args, 'incident', '')!r} (workflow not found)"
        else:
            error = f"Temporal said {e.status.name}: {e.message}"
    except RuntimeError as e:
        error = f"cannot reach Temporal at {TemporalSettings().address}: {e}"
    print(f"error: {error}", file=sys.stderr)
    exit_now(1)


if __name__ == "__main__":
    main()

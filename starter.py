"""Talk to incidents from the command line.

  python starter.py alert FILE                     start/join from an Alertmanager payload, as the webhook would
  python starter.py declare --summary TEXT [--severity P1] [--impact TEXT] [--reporter EMAIL] [--module fees]
  python starter.py status INCIDENT                the incident's status as JSON
  python starter.py signal INCIDENT NAME JSON      send any signal as one JSON object
  python starter.py list                           open incidents

Shortcuts for the signals of the lifecycle (each sends the same JSON you could type in the UI):
  ack INCIDENT --by EMAIL
  severity INCIDENT P1 --by EMAIL --reason TEXT
  update INCIDENT --by EMAIL --status ONGOING --action TEXT --know TEXT [--next MIN] [--public]
  blast-radius INCIDENT --by EMAIL --scope tenant [--tenant T ...] [--endpoint E ...]
  mitigate INCIDENT --by EMAIL --summary TEXT
  resolve INCIDENT --by EMAIL --summary TEXT [--root-cause TEXT] [--force-reason TEXT]
  request INCIDENT ACTION TARGET --by EMAIL --reason TEXT [--param K=V ...] [--id REQUEST_ID]
  approve INCIDENT REQUEST_ID --by EMAIL [--reason TEXT]     (an update: refused at once if it cannot count)
  deny INCIDENT REQUEST_ID --by EMAIL --reason TEXT
  done INCIDENT REQUEST_ID --by EMAIL --outcome TEXT
  deliverables INCIDENT                                      the §8 ledger
  complete INCIDENT DELIVERABLE --by EMAIL --link URL
  waive INCIDENT DELIVERABLE --by EMAIL --reason TEXT        (Engineering Lead)
  action-item INCIDENT --by EMAIL --title TEXT --owner EMAIL [--due YYYY-MM-DD]
  edit-email INCIDENT --by EMAIL [--affected T] [--root-cause T] [--resolution T] [--preventive-actions T] [--courtesy-days N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from plan import AlertmanagerDelivery, Declaration, PolicyError, load_policy
from runtime.intake import declare_incident, deliver_alerts
from runtime.temporal import TemporalConfigError, TemporalSettings, connect, exit_now
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
    elif args.command == "signal" or args.command in SHORTCUTS:
        name, payload = (args.name, json.loads(args.json)) if args.command == "signal" else SHORTCUTS[args.command](args)
        handle = client.get_workflow_handle(args.incident)
        await handle.describe()  # a clear "no incident" before sending into nothing
        await handle.signal(name, payload)
        print(f"sent {name} {json.dumps(payload)} to {args.incident}; "
              f"`python starter.py status {args.incident}` shows the outcome")
    elif args.command == "approve":
        decided = await client.get_workflow_handle(args.incident).execute_update(
            IncidentWorkflow.approve_action, _drop_none({"request_id": args.request_id, "by": args.by,
                                                         "reason": args.reason}))
        print(f"{args.request_id}: {decided.state} ({len(decided.approvals)} approval(s))")
    elif args.command == "deliverables":
        ledger = await client.get_workflow_handle(args.incident).query(IncidentWorkflow.deliverables)
        show({"deliverables": [d.model_dump(mode="json") for d in ledger]})
    elif args.command == "list":
        query = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running'"
        async for wf in client.list_workflows(query):
            print(f"{wf.id}\t{wf.start_time:%Y-%m-%d %H:%M UTC}\t{await wf.memo_value('summary', '')}")


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v not in (None, [], False)}


SHORTCUTS = {
    "ack": lambda a: ("acknowledge", {"by": a.by}),
    "severity": lambda a: ("set_severity", {"severity": a.severity, "by": a.by, "reason": a.reason}),
    "update": lambda a: ("post_update", _drop_none({
        "by": a.by, "status": a.status, "current_action": a.action, "what_we_know": a.know,
        "next_update_minutes": a.next, "public": a.public, "public_message": a.public_message})),
    "blast-radius": lambda a: ("declare_blast_radius", _drop_none({
        "by": a.by, "scope": a.scope, "tenants": a.tenant, "endpoints": a.endpoint})),
    "mitigate": lambda a: ("mitigate", {"by": a.by, "summary": a.summary}),
    "resolve": lambda a: ("resolve", _drop_none({
        "by": a.by, "summary": a.summary, "root_cause": a.root_cause, "force_reason": a.force_reason})),
    "request": lambda a: ("request_action", _drop_none({
        "action": a.action, "target": a.target, "params": dict(p.split("=", 1) for p in a.param),
        "by": a.by, "reason": a.reason, "request_id": a.id})),
    "deny": lambda a: ("deny", {"request_id": a.request_id, "by": a.by, "reason": a.reason}),
    "done": lambda a: ("action_done", {"request_id": a.request_id, "by": a.by, "outcome": a.outcome}),
    "complete": lambda a: ("complete_deliverable", {"deliverable": a.deliverable, "by": a.by, "link": a.link}),
    "waive": lambda a: ("waive_deliverable", {"deliverable": a.deliverable, "by": a.by, "reason": a.reason}),
    "action-item": lambda a: ("add_action_item", _drop_none({"title": a.title, "owner": a.owner, "due": a.due,
                                                             "by": a.by})),
    "edit-email": lambda a: ("edit_customer_email", _drop_none({
        "by": a.by, "affected": a.affected, "root_cause": a.root_cause, "resolution": a.resolution,
        "preventive_actions": a.preventive_actions, "courtesy_days": a.courtesy_days})),
}


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

    def signal_command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help)
        c.add_argument("incident")
        c.add_argument("--by", required=True, help="your email, as in the roster")
        return c

    signal_command("ack", "acknowledge the page")
    c = signal_command("severity", "re-declare severity (IC)")
    c.add_argument("severity", choices=["P0", "P1", "P2", "P3"])
    c.add_argument("--reason", required=True)
    c = signal_command("update", "post the §5.2 update")
    c.add_argument("--status", choices=["ONGOING", "MITIGATED", "RESOLVED"], default="ONGOING")
    c.add_argument("--action", required=True, help="what we're doing right now")
    c.add_argument("--know", required=True, help="what we know (root cause hypothesis)")
    c.add_argument("--next", type=int, help="next update in N minutes")
    c.add_argument("--public", action="store_true", help="also update the status page")
    c.add_argument("--public-message")
    c = signal_command("blast-radius", "declare the blast radius (§4.2 step 7)")
    c.add_argument("--scope", choices=["all", "many", "tenant", "endpoint"], required=True)
    c.add_argument("--tenant", action="append", default=[])
    c.add_argument("--endpoint", action="append", default=[])
    c = signal_command("mitigate", "service restored; root-causing continues")
    c.add_argument("--summary", required=True)
    c = signal_command("resolve", "verify recovery (§4.5) and resolve")
    c.add_argument("--summary", required=True)
    c.add_argument("--root-cause")
    c.add_argument("--force-reason", help="resolve even if the checks fail (IC only); recorded")
    c = signal_command("request", "ask for a risky (§4.3) or forbidden (§7) action")
    c.add_argument("action", help="an action of the policy's catalogue, e.g. rollback")
    c.add_argument("target")
    c.add_argument("--reason", required=True)
    c.add_argument("--param", action="append", default=[], help="K=V, repeatable")
    c.add_argument("--id", help="request id (default: <action>-<n>)")
    for name, help in (("approve", "approve a request (answers at once)"), ("deny", "deny a request"),
                       ("done", "report an approved manual action as carried out")):
        c = signal_command(name, help)
        c.add_argument("request_id")
        c.add_argument("--reason", required=name == "deny")
        if name == "done":
            c.add_argument("--outcome", required=True)
    sub.add_parser("deliverables", help="the §8 ledger of an incident").add_argument("incident")
    c = signal_command("complete", "a §8 deliverable is done")
    c.add_argument("deliverable")
    c.add_argument("--link", required=True)
    c = signal_command("waive", "waive a §8 deliverable (Engineering Lead)")
    c.add_argument("deliverable")
    c.add_argument("--reason", required=True)
    c = signal_command("action-item", "a post-mortem action item, as a Jira ticket")
    c.add_argument("--title", required=True)
    c.add_argument("--owner", required=True, help="email")
    c.add_argument("--due", help="YYYY-MM-DD")
    c = signal_command("edit-email", "change the customer email draft before approving it")
    for field in ("affected", "root-cause", "resolution", "preventive-actions", "courtesy-days"):
        c.add_argument(f"--{field}")
    return p


def main() -> None:
    args = parser().parse_args()
    try:
        asyncio.run(run(args))
        exit_now(0)
    except (ValidationError, PolicyError, TemporalConfigError, json.JSONDecodeError, OSError) as e:
        error = str(e)
    except WorkflowUpdateFailedError as e:
        error = f"refused: {e.cause.message if e.cause else e}"
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

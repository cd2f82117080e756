"""Talk to incidents from the command line: `irp` (installed by `make install` as .venv/bin/irp;
`python starter.py` in a checkout is the same).

  irp alert FILE                     start/join from an Alertmanager payload, as the webhook
                                     (a Watchdog beats the dead man's switch instead)
  irp declare --summary TEXT [--severity P1] [--impact TEXT] [--reporter EMAIL] [--module fees] [--private]
              [--started-at 2026-12-07T08:32:00Z]   when the problem began, if before now
  irp status INCIDENT                the incident's status as JSON
  irp signal INCIDENT NAME JSON      send any signal as one JSON object
  irp list                           open incidents
  irp deliverables INCIDENT          the §8 ledger
  irp compliance INCIDENT [--json]   every promise of the plan that applied: kept, missed (by how
                                     much) or open, and who held it (docs/compliance.md)
  irp keygen                         a key pair for the Slack app's attestations
  irp report --since 90d [--format text|html] [--out FILE] [--all-queues]
                                     compliance per quarter over the resolved incidents (docs/report.md)
  irp drill SCENARIO | --list        rehearse a scenario (drills/*.yaml) on a compressed clock, in a
                                     checkout (docs/drills.md)
  irp whatif --policy NEW.yaml [--since 90d] [--format json] [--task-queue Q]
                                     what NEW.yaml would have changed in the incidents recorded
                                     since then (docs/using.md: Policy changes, replayed)

Shortcuts for the signals (each sends the same JSON you could type in the UI; the commands are
made from the incident's signal table, workflows/signals.py):
  ack INCIDENT --by EMAIL
  severity INCIDENT P1 --by EMAIL --reason TEXT
  role INCIDENT ROLE PERSON --by EMAIL
  update INCIDENT --by EMAIL --status ONGOING --action TEXT --know TEXT [--next MIN] [--public]
  blast-radius INCIDENT --by EMAIL --scope tenant [--tenant T ...] [--endpoint E ...]
  mitigate INCIDENT --by EMAIL --summary TEXT
  resolve INCIDENT --by EMAIL --summary TEXT [--root-cause TEXT] [--force-reason TEXT]
  request INCIDENT ACTION TARGET --by EMAIL --reason TEXT [--param K=V ...] [--id REQUEST_ID]
  approve INCIDENT REQUEST_ID --by EMAIL [--reason TEXT]     (waits for the action it completes)
  deny INCIDENT REQUEST_ID --by EMAIL --reason TEXT
  done INCIDENT REQUEST_ID --by EMAIL --outcome TEXT
  complete INCIDENT DELIVERABLE --by EMAIL --link URL
  waive INCIDENT DELIVERABLE --by EMAIL --reason TEXT        (Engineering Lead)
  action-item INCIDENT --by EMAIL --title TEXT --owner EMAIL [--due YYYY-MM-DD]
  edit-email INCIDENT --by EMAIL [--affected T] [--root-cause T] [--resolution T]
             [--preventive-actions T] [--courtesy-days N]
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from cli import outcomes, report, whatif
from cli.commands import add_signal_commands, payload_of
from cli.keycheck import key_mismatch
from connection.temporal import TemporalConfigError, TemporalSettings, connect, exit_now
from incident_client.compliance import compliance_of
from incident_client.intake import declare_incident, deliver
from plan import AlertmanagerDelivery, Declaration, person_input
from plan import whatif as whatif_plan
from plan.attestation import new_key_pair
from plan.compliance import render
from plan.policy import PolicyError, load_policy
from plan.signals import nearest
from workflows import IncidentWorkflow
from workflows.signals import PEOPLES, SIGNALS


async def run(args: argparse.Namespace) -> int:
    """Do the command; its exit code (cli/outcomes.py)."""
    if args.command == "keygen":  # needs no Temporal
        private, public = new_key_pair()
        print("# the receiver only; a secret")
        print(f"IRP_ATTESTATION_KEY={private}")
        print("# every worker (comma-separated with the old key while rotating)")
        print(f"IRP_ATTESTATION_PUBLIC_KEYS={public}")
        return outcomes.OK
    if args.command == "signal":  # the JSON is read before anything connects
        reading = person_input.read_text(args.json)
        if reading.refusal:
            print(f"error: the JSON: {reading.refusal}", file=sys.stderr)
            return outcomes.USAGE
        if reading.note:
            print(f"note: {reading.note}", file=sys.stderr)
        args.json = reading.value
    if args.command == "report":  # a bad window is said before anything connects
        try:
            report.window(args.since)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return outcomes.USAGE
    if args.command == "whatif":  # the policy is judged before anything connects, as the worker judges it
        try:
            new = load_policy(args.policy)
            since = whatif_plan.since(datetime.now(UTC), args.since)
        except (PolicyError, ValueError) as e:
            print(f"refused: {e}", file=sys.stderr)
            return outcomes.USAGE
    settings = TemporalSettings()
    client = await connect(settings)
    if args.command == "report":
        queue = None if args.all_queues else settings.temporal_task_queue
        return await report.run(client, args.since, args.format, args.out, args.wait, queue)
    if args.command == "whatif":
        where = f"TaskQueue = '{args.task_queue}'" if args.task_queue else None
        replayed, skipped = await whatif.whatif(client, new, since, datetime.now(UTC), where)
        print(whatif.show(replayed, skipped, args.format == "json"))
    elif args.command == "alert":
        delivery = AlertmanagerDelivery.model_validate_json(Path(args.file).read_bytes())
        heartbeat_alert = os.environ.get("IRP_HEARTBEAT_ALERT") or "Watchdog"  # as the receiver
        receipt, heartbeats, beat = await deliver(
            client, settings.temporal_task_queue, delivery, heartbeat_alert
        )
        shown = (
            receipt.model_dump(mode="json")
            if receipt
            else {"incidents": [], "note": "no open incident for this group"}
        )
        show(shown | ({"heartbeat": beat.model_dump(mode="json") if beat else None} if heartbeats else {}))
    elif args.command == "declare":
        declaration = Declaration(
            summary=args.summary,
            impact=args.impact,
            severity=args.severity,
            reporter=args.reporter,
            source=args.source,
            module=args.module,
            private=args.private,
            started_at=args.started_at,
        )
        key = args.idempotency_key or f"cli-{uuid.uuid4()}"
        receipt = await declare_incident(client, settings.temporal_task_queue, declaration, key)
        show(receipt.model_dump(mode="json"))
    elif args.command == "status":
        try:
            status = await asyncio.wait_for(
                client.get_workflow_handle(args.incident).query(IncidentWorkflow.status), args.wait
            )
        except TimeoutError:
            return await outcomes.no_answer("status", args.wait, client.get_workflow_handle(args.incident))
        show(status.model_dump(mode="json"))
    elif args.command == "signal" or args.command in COMMANDS:
        if args.command == "signal":
            name, payload = args.name, args.json
        else:
            name, payload = COMMANDS[args.command].name, payload_of(COMMANDS[args.command], args)
        if name not in PEOPLES:  # checked before anything is sent
            known = sorted(PEOPLES)
            print(f"refused: no signal {name!r}{nearest(name, known)}; known: {', '.join(known)}")
            return outcomes.REFUSED
        handle = client.get_workflow_handle(args.incident)
        await handle.describe()  # a clear "no incident" before sending into nothing
        if warning := await key_mismatch(handle, settings.payload_codec()):
            print(warning, file=sys.stderr)
        if name == "approve":
            return await outcomes.approve(handle, payload, args.wait)
        return await outcomes.act(handle, name, payload, args.wait)
    elif args.command == "deliverables":
        ledger = await client.get_workflow_handle(args.incident).query(IncidentWorkflow.deliverables)
        show({"deliverables": [d.model_dump(mode="json") for d in ledger]})
    elif args.command == "list":
        return await outcomes.list_incidents(client, min(args.wait, 3))
    elif args.command == "compliance":
        return await compliance(client.get_workflow_handle(args.incident), args.json, args.wait)
    return outcomes.OK


async def compliance(handle, as_json: bool, wait: float) -> int:
    """`irp compliance`: the incident's compliance card as of now (plan/compliance.py)."""
    try:
        answer = await asyncio.wait_for(compliance_of(handle, datetime.now(UTC), load_policy), wait)
    except TimeoutError:
        return await outcomes.no_answer("compliance", wait, handle)
    card = answer.card
    if answer.note:
        print(f"note: {answer.note}", file=sys.stderr)
    if card is None:
        print(f"{handle.id}: no compliance card yet (the incident has not pinned its policy)")
    elif as_json:
        show(card.model_dump(mode="json"))
    else:
        print(render(card))
    return outcomes.OK


# The shortcut commands, by their CLI name (`ack`, `severity`, …), from the signal table.
COMMANDS = {s.cli.command: s for s in SIGNALS if s.cli}


def show(data: dict) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="preskool-irp: incidents from the command line",
        epilog=__doc__ + "\n" + outcomes.EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("alert", help="start or join an incident from an Alertmanager payload file").add_argument(
        "file"
    )
    d = sub.add_parser("declare", help="declare an incident (customer report, health check)")
    d.add_argument("--summary", required=True)
    d.add_argument("--impact", default="")
    d.add_argument("--severity", choices=["P0", "P1", "P2", "P3"])
    d.add_argument("--reporter", default="oncall@preskool.com", help="email of who declares it")
    d.add_argument("--source", default="manual", help="zendesk, school-email, uptimerobot, …")
    d.add_argument("--module")
    d.add_argument(
        "--private", action="store_true", help="need-to-know: a private bridge, nothing public until approved"
    )
    d.add_argument(
        "--started-at",
        help="when the problem began, RFC 3339 with its offset (2026-12-07T08:32:00Z); default: now",
    )
    d.add_argument(
        "--idempotency-key",
        help="the same key and declaration give the same incident (default: a new key for this command)",
    )
    sub.add_parser("status", help="an incident's status").add_argument("incident")
    s = sub.add_parser("signal", help="send a signal (one JSON object)")
    s.add_argument("incident")
    s.add_argument("name")
    s.add_argument("json")
    sub.add_parser("list", help="open incidents")
    sub.add_parser(
        "keygen", help="a new Ed25519 key pair for attestations (IRP_ATTESTATION_KEY / _PUBLIC_KEYS)"
    )

    sub.add_parser("deliverables", help="the §8 ledger of an incident").add_argument("incident")
    r = sub.add_parser("report", help="compliance per quarter: MTTA/MTTR, promises kept, overdue follow-ups")
    r.add_argument("--since", default="90d", help="how far back: 90d, 12w, 36h (default 90d)")
    r.add_argument("--format", choices=["text", "html"], default="text")
    r.add_argument("--out", help="write to this file instead of printing")
    r.add_argument(
        "--all-queues",
        action="store_true",
        help="every task queue's incidents (default: TEMPORAL_TASK_QUEUE's, not drills run on their own)",
    )
    sub.add_parser("drill", help="rehearse a scenario (drills/*.yaml) on a compressed clock (docs/drills.md)")
    c = sub.add_parser("compliance", help="the plan's promises to an incident: kept, missed or open")
    c.add_argument("incident")
    c.add_argument("--json", action="store_true", help="the card as JSON (plan/compliance.py ComplianceCard)")
    w = sub.add_parser(
        "whatif", help="what a policy change would have done to the incidents recorded (nothing is sent)"
    )
    w.add_argument("--policy", required=True, help="the changed policy file (YAML, as config/preskool.yaml)")
    w.add_argument("--since", default="90d", help="incidents started since: 90d, 12h, 30m, 2w (default 90d)")
    w.add_argument("--format", choices=["text", "json"], default="text")
    w.add_argument("--task-queue", help="only the incidents of this task queue (a drill's); default: all")
    add_signal_commands(sub, COMMANDS.values())
    for command in sub.choices.values():
        command.add_argument(
            "--wait",
            type=float,
            default=10.0,
            help="seconds to wait for the incident's answer (and an approved action's run); default 10",
        )
    return p


def unknown_command(argv: list[str], p: argparse.ArgumentParser) -> str | None:
    """For a first word that is no command: what to say, with the nearest command (a signal's
    name leads to its shortcut: `acknowlege` → `ack`). None when the command is known."""
    commands = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices
    word = next((a for a in argv if not a.startswith("-")), None)
    if word is None or word in commands:
        return None
    by_signal = {s.name: s.cli.command for s in SIGNALS if s.cli}
    close = difflib.get_close_matches(word, sorted({*commands, *by_signal}), n=1, cutoff=0.6)
    hint = ""
    if close:
        command = by_signal.get(close[0], close[0])
        hint = f": did you mean `irp {command}`" + (
            f" (the {close[0]} signal)?" if close[0] in by_signal else "?"
        )
    return f"no command {word!r}{hint} (`irp --help` lists them)"


def drill(argv: list[str]) -> int:
    """`irp drill …`: the drill runner is dev tooling (devstack/drill_runner.py, with the sandbox's fakes
    and the time-skipping server), so it runs from a checkout; the product never imports it."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "devstack" / "drill_run.py").is_file():
        print(
            "error: drills run from a checkout of preskool-irp (devstack/ and sandbox/ are dev tooling, "
            "not in this installation): `make install` there, then `.venv/bin/irp drill --list`",
            file=sys.stderr,
        )
        return outcomes.USAGE
    argv = [str(Path(a).resolve()) if a.endswith((".yaml", ".yml")) else a for a in argv]  # from here
    return subprocess.run([sys.executable, "-m", "devstack.drill_run", *argv], cwd=root).returncode


def main() -> None:
    if sys.argv[1:2] == ["drill"]:
        exit_now(drill(sys.argv[2:]))
    p = parser()
    if said := unknown_command(sys.argv[1:], p):
        print(f"error: {said}", file=sys.stderr)
        exit_now(outcomes.USAGE)
    args = p.parse_args()
    code = outcomes.ERROR
    try:
        exit_now(asyncio.run(run(args)))
    except (ValidationError, TemporalConfigError, json.JSONDecodeError, OSError, ValueError) as e:
        error = str(e)
    except WorkflowUpdateFailedError as e:
        print(f"refused: {e.cause.message if e.cause else e}")
        exit_now(outcomes.REFUSED)
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            error = f"no incident {getattr(args, 'incident', '')!r} (workflow not found)"
        else:
            error = f"Temporal said {e.status.name}: {e.message}"
    except RuntimeError as e:
        error = f"cannot reach Temporal at {TemporalSettings().address}: {e}"
    print(f"error: {error}", file=sys.stderr)
    exit_now(code)


if __name__ == "__main__":
    main()

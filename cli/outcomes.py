"""What the CLI prints after it sends something: the incident's own answer, in a line or two, and
an exit code a script can act on. Each command waits (bounded, `--wait` seconds) for the outcome
of its own input; nothing is reported as done that the incident did not confirm."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError

from plan.signals import Outcome
from workflows import IncidentWorkflow

# Exit codes (README "Exit codes", `irp --help`).
OK = 0  # accepted; for an approval, also its action ran and succeeded (or waits for more approvals)
ERROR = 1  # could not ask: Temporal unreachable, no such incident, input the CLI could not read
USAGE = 2  # the command line itself is wrong (argparse)
REFUSED = 3  # the incident refused it; the reason is printed
FAILED = 4  # approved, but the action it ran failed (its exit code is printed)
NO_ANSWER = 5  # no outcome within --wait seconds (no worker running?): look, and send it again
CLAIMED = 6  # held as a claim: it counts once the named person confirms it in Slack
EXIT_CODES = (
    "exit codes: 0 accepted (an approval: its action succeeded, or more approvals are needed); "
    "1 could not ask (Temporal, unknown incident, unreadable input); 2 wrong command line; "
    "3 refused by the incident (reason printed); 4 the approved action failed; "
    "5 no answer within --wait seconds (is a worker running? `make up` starts one); "
    "6 held as a claim until the named person confirms it in Slack"
)
FINAL = ("done", "failed", "denied", "expired")


async def act(handle: WorkflowHandle, signal: str, payload: dict, wait: float) -> int:
    """Send `signal` through the incident's `act` update and print what came of it (for a
    resolve, the §4.5 gate's verdict too)."""
    started = time.monotonic()
    try:
        gates = len((await status_of(handle, wait)).gate_runs) if signal == "resolve" else 0
    except TimeoutError:
        return await no_answer(signal, wait, handle)
    try:
        outcome: Outcome = await asyncio.wait_for(
            handle.execute_update(IncidentWorkflow.act, {"signal": signal, "input": payload}), wait
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return await no_answer(signal, wait, handle)
    if not outcome.accepted:
        print(f"refused: {outcome.reason}")
        return REFUSED
    if outcome.claimed:
        print(
            f"{signal}: held as {outcome.claimed} — it counts once the person it names confirms it "
            "with their own click in Slack (they have a direct message)"
        )
        return CLAIMED
    print(f"{signal}: accepted" + (f" — {outcome.notes[0]}" if outcome.notes else ""))
    for request_id in outcome.requests:
        print(f"request id: {request_id} (approve: irp approve {handle.id} {request_id} --by EMAIL)")
    if signal == "resolve":
        forced = bool(payload.get("force_reason"))
        return await verdict(handle, gates, forced, wait - (time.monotonic() - started))
    return OK


async def status_of(handle: WorkflowHandle, wait: float):
    """The incident's status; TimeoutError when no worker answers within `wait` seconds."""
    return await asyncio.wait_for(handle.query(IncidentWorkflow.status), max(wait, 1.0))


async def verdict(handle: WorkflowHandle, gates: int, forced: bool, wait: float) -> int:
    """A resolve is only resolved when the §4.5 gate verifies recovery, or when it is forced (the
    gate still runs and records its failure first): wait for that and say what it found."""
    deadline = time.monotonic() + max(wait, 1.0)
    while time.monotonic() < deadline:
        try:
            status = await status_of(handle, deadline - time.monotonic())
        except TimeoutError:
            break
        resolution = status.resolution
        if resolution and resolution.forced:
            print(f"resolved, forced without verification: {resolution.force_reason}")
            return OK
        if len(status.gate_runs) > gates and status.gate_runs[-1].passed or resolution:
            print("resolved: recovery verified by the §4.5 checks")
            return OK
        if len(status.gate_runs) > gates and not forced:
            run = status.gate_runs[-1]
            found = "; ".join(f"{'✅' if c.passed else '❌'} {c.name}: {c.detail}" for c in run.checks)
            print(f"not resolved: recovery not verified ({found or run.note}); the incident stays open")
            return REFUSED
        await asyncio.sleep(0.3)
    print(f"resolve: the §4.5 gate has not answered within {wait:g} s; `irp status` shows its verdict")
    return NO_ANSWER


async def approve(handle: WorkflowHandle, payload: dict, wait: float) -> int:
    """Approve through `act` (refused at once if it cannot count; a claim to confirm in Slack when
    the incident checks attestations), then wait for the action the approval completes."""
    started = time.monotonic()
    code = await act(handle, "approve", payload, wait)
    if code != OK:
        return code
    request_id = payload["request_id"]
    request = await _request(handle, request_id)
    print(f"{request_id}: {len(request.approvals)} approval(s) so far, {request.state}")
    while request.state in ("approved", "running") and request.command:
        if time.monotonic() - started > wait:
            print(f"{request_id}: still {request.state} after {wait:g} s; `irp status` shows the end")
            return NO_ANSWER
        await asyncio.sleep(0.3)
        request = await _request(handle, request_id)
    if request.state in FINAL:
        code = "" if request.exit_code is None else f" (exit code {request.exit_code})"
        said = " ".join((request.outcome or "").split())[:300]
        print(f"{request_id}: {request.state}{code}: {said}".rstrip(": "))
    return FAILED if request.state == "failed" else OK


async def _request(handle: WorkflowHandle, request_id: str):
    status = await handle.query(IncidentWorkflow.status)
    found = next((r for r in status.requests if r.request_id == request_id), None)
    if found is None:
        raise ValueError(f"the incident has no request {request_id!r}")
    return found


async def no_answer(signal: str, wait: float, handle: WorkflowHandle) -> int:
    """Exit NO_ANSWER, saying why as far as Temporal tells: whether any worker polls the task
    queue the incident runs on (and which queue the CLI's workers poll when they differ)."""
    why = await who_serves(handle)
    print(
        f"{signal}: no answer within {wait:g} s — {why}. It may still be applied when a worker picks "
        "the incident up, or lost if the server restarts first: check with `irp status` before "
        "sending it again."
    )
    return NO_ANSWER


async def who_serves(handle: WorkflowHandle) -> str:
    """Why an incident may not answer, from Temporal: nobody polls its task queue (named, with the
    queue this CLI's workers use when it differs: an incident begun by `make demo` on a server
    `make up` already ran is on the drill's own queue), or a worker does and is busy."""
    client = handle._client
    try:
        queue = (await handle.describe()).raw_description.execution_config.task_queue.name
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except Exception as e:  # the explanation is a courtesy: never a second failure
        return f"is a worker running? (`make up` starts one; Temporal did not say: {type(e).__name__})"
    if answer.pollers:
        last = max(p.last_access_time.ToDatetime(tzinfo=UTC) for p in answer.pollers)
        ago = max(0, int((datetime.now(UTC) - last).total_seconds()))
        return (
            f"a worker polled this incident's task queue {queue!r} {ago} s ago: it may be busy (replaying "
            "a long history after a restart) or have just stopped; try again with a longer --wait"
        )
    ours = os.environ.get("TEMPORAL_TASK_QUEUE") or "incident-response"
    elsewhere = (
        f"; your workers poll {ours!r} — an incident on another queue (a `make demo` drill run while "
        "`make up` was running is on its own) is served only by a worker started for that queue"
        if queue != ours
        else " (`make up` starts one)"
    )
    return f"no worker polls this incident's task queue {queue!r}{elsewhere}"


async def list_incidents(client: Client, wait: float) -> int:
    """Running incidents, newest first: id, severity, phase, status, IC, age, summary."""
    query = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running'"
    rows = [wf async for wf in client.list_workflows(query)]
    ics = await asyncio.gather(*(ic_of(client.get_workflow_handle(wf.id), wait) for wf in rows))
    print(f"{'INCIDENT':<18} {'SEV':<4} {'PHASE':<9} {'STATUS':<7} {'IC':<26} {'AGE':>6}  SUMMARY")
    now = datetime.now(UTC)
    for wf, ic in zip(rows, ics, strict=True):
        attrs = wf.search_attributes
        severity, phase, state = (
            (attrs.get(key) or ["—"])[0] for key in ("Severity", "Phase", "IncidentStatus")
        )
        summary, since = await wf.memo_value("summary", ""), age(now - wf.start_time)
        print(f"{wf.id:<18} {severity:<4} {phase:<9} {state:<7} {ic:<26} {since:>6}  {summary}")
    if not rows:
        print("(no running incidents)")
    return OK


async def ic_of(handle: WorkflowHandle, wait: float) -> str:
    """The incident commander's email, or "?" when no worker answers in time."""
    try:
        status = await asyncio.wait_for(handle.query(IncidentWorkflow.status), wait)
    except Exception:  # a list never fails because one incident cannot answer
        return "?"
    ic = next((r for r in status.roles if r.role == "incident_commander"), None)
    return (ic.person if ic else None) or "—"


def age(delta) -> str:
    """`3d`, `5h`, `12m` or `40s`."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

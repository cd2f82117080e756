"""The CLI as a person uses it (`python starter.py`, the same as `irp`): a real process against the
real dev server."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cli.main import COMMANDS
from plan.incident import IncidentInput
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from workflows import IncidentWorkflow

ROOT = Path(__file__).resolve().parent.parent


async def test_alert_status_signal_list(cli, dev_env, run_worker, tmp_path, pagerduty):
    payload = delivery(alert(module="attendance", summary="Attendance marking down"))
    payload["groupKey"] += os.urandom(4).hex()
    (tmp_path / "alert.json").write_text(json.dumps(payload))
    async with run_worker(dev_env.client) as tq:
        code, out, err = await cli("alert", str(tmp_path / "alert.json"), task_queue=tq)
        assert code == 0, err
        receipt = json.loads(out)
        assert receipt["severity"] == "P1" and receipt["created"] is True
        incident = receipt["incident_id"]
        await status_when(dev_env.client.get_workflow_handle(incident), lambda s: s.channel)

        code, out, err = await cli("signal", incident, "acknowledge", '{"by": "ben.okafor@preskool.com"}')
        assert code == 0, err
        await status_when(dev_env.client.get_workflow_handle(incident), lambda s: s.phase == "TRIAGE")

        code, out, _ = await cli("status", incident)
        status = json.loads(out)
        assert status["acknowledged_by"] == "ben.okafor@preskool.com"
        assert {p["role"] for p in status["paged"]} == {
            "incident_commander",
            "oncall_primary",
            "engineering_lead",
            "communications_lead",
        }

        code, out, err = await cli("list")
        assert code == 0 and incident in out, err
        await finish(dev_env.client.get_workflow_handle(incident))


async def test_declare_starts_a_new_incident(cli, dev_env, run_worker, pagerduty):
    """`--started-at` (with its offset): the incident starts when the problem began; `irp status`
    shows that start in UTC and when the incident heard of it."""
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    async with run_worker(dev_env.client) as tq:
        code, out, err = await cli(
            "declare",
            "--summary",
            "Schools report fee payments failing",
            "--module",
            "fees",
            "--reporter",
            "support@preskool.com",
            "--source",
            "zendesk",
            "--started-at",
            began.astimezone(timezone(timedelta(hours=-5))).isoformat(),
            task_queue=tq,
        )
        assert code == 0, err
        incident = json.loads(out)["incident_id"]
        status = await status_when(dev_env.client.get_workflow_handle(incident), lambda s: len(s.paged) == 4)
        code, out, err = await cli("status", incident)
        await finish(dev_env.client.get_workflow_handle(incident))
    assert status.severity == "P1"
    assert status.timeline[0].text.startswith("declared by support@preskool.com (zendesk)")
    shown = json.loads(out)
    assert shown["started_at"] == began.isoformat().replace("+00:00", "Z"), shown["started_at"]
    assert datetime.fromisoformat(shown["received_at"]) - began >= timedelta(minutes=40)


async def test_a_declaration_with_neither_module_nor_severity_says_why_it_is_p3(cli, dev_env, run_worker):
    """A newcomer's friction (issue 23): `irp declare` with only a summary became P3 without a
    word; the receipt now says why, and how to change it."""
    async with run_worker(dev_env.client) as tq:
        code, out, err = await cli("declare", "--summary", "Something is off", task_queue=tq)
        assert code == 0, err
        receipt = json.loads(out)
        await finish(dev_env.client.get_workflow_handle(receipt["incident_id"]))
    assert receipt["severity"] == "P3"
    assert "neither a severity nor a module: the plan's default, P3" in receipt["severity_reasons"][0]


@pytest.mark.parametrize(
    "args, message",
    [
        (("status", "inc-doesnotexist"), "no incident 'inc-doesnotexist'"),
        (("signal", "inc-doesnotexist", "acknowledge", '{"by": "a@b.co"}'), "no incident 'inc-doesnotexist'"),
        (("signal", "inc-x", "acknowledge", "{not json"), "error: the JSON: not valid JSON at character 2"),
        # Read as the incident reads a signal from the Web UI (plan/person_input.py), before connecting.
        (
            ("signal", "inc-x", "acknowledge", '{"a": 1,}'),
            "not valid JSON at character 9: remove the comma before the closing bracket",
        ),
        (("signal", "inc-x", "acknowledge", "{“by”: 1}"), "use straight quotes"),
        (
            ("acknowlege", "inc-x"),
            "no command 'acknowlege': did you mean `irp ack` (the acknowledge signal)?",
        ),
        (("stauts", "inc-x"), "did you mean `irp status`?"),
        (("alert", "/nonexistent/alert.json"), "error: [Errno 2]"),
        (("declare", "--summary", "x", "--started-at", "2026-12-07T08:32:00"), "should have timezone info"),
    ],
)
async def test_clear_errors(cli, args, message):
    code, out, err = await cli(*args)
    assert code != 0 and message in err, err


async def test_lifecycle_shortcuts_send_the_documented_json(cli, dev_env, run_worker, prometheus, policy):
    prometheus.healthy(policy)
    async with run_worker(dev_env.client) as tq:
        code, out, err = await cli("declare", "--summary", "Login down", "--severity", "P0", task_queue=tq)
        incident = json.loads(out)["incident_id"]
        handle = dev_env.client.get_workflow_handle(incident)
        await status_when(handle, lambda s: s.cadence)
        for args in (
            ("ack", incident, "--by", "ben.okafor@preskool.com"),
            (
                "blast-radius",
                incident,
                "--by",
                "ben.okafor@preskool.com",
                "--scope",
                "tenant",
                "--tenant",
                "school-7",
            ),
            ("severity", incident, "P1", "--by", "asha.rao@preskool.com", "--reason", "one tenant"),
            (
                "update",
                incident,
                "--by",
                "asha.rao@preskool.com",
                "--action",
                "Restarting",
                "--know",
                "Pod OOM",
                "--next",
                "10",
            ),
            ("mitigate", incident, "--by", "ben.okafor@preskool.com", "--summary", "Restarted"),
            (
                "resolve",
                incident,
                "--by",
                "asha.rao@preskool.com",
                "--summary",
                "Restarted",
                "--root-cause",
                "Memory limit",
            ),
        ):
            code, out, err = await cli(*args)
            assert code == 0, err
            assert out.startswith(f"{COMMANDS[args[0]].name}: accepted"), out
            if args[0] == "resolve":  # a resolve says what the §4.5 gate found
                assert "resolved: recovery verified by the §4.5 checks" in out, out
        status = await status_when(handle, lambda s: s.phase == "REVIEW", timeout=30)
    assert status.acknowledged_by == "ben.okafor@preskool.com"
    assert status.blast_radius.tenants == ["school-7"] and status.severity == "P1"
    assert status.cadence.updates_posted == 1 and status.resolution.root_cause == "Memory limit"
    assert list(status.phases) == ["DETECTION", "TRIAGE", "CONTAIN", "FIX", "RESOLVE", "REVIEW"]


async def test_request_and_approve_from_the_cli(cli, dev_env, run_worker):
    async with run_worker(dev_env.client) as tq:
        code, out, err = await cli(
            "declare", "--summary", "Fee reminders flood the API", "--severity", "P1", task_queue=tq
        )
        incident = json.loads(out)["incident_id"]
        handle = dev_env.client.get_workflow_handle(incident)
        await status_when(handle, lambda s: s.cadence)
        code, out, err = await cli(
            "request",
            incident,
            "circuit_break",
            "fee-reminders",
            "--by",
            "ben.okafor@preskool.com",
            "--reason",
            "reminders hammer the API",
            "--id",
            "cb-1",
        )
        assert code == 0, err
        await status_when(handle, lambda s: s.requests)
        assert "request id: cb-1" in out and "needs 1 approval from" in out, out
        code, out, err = await cli("approve", incident, "cb-1", "--by", "grace.mensah@preskool.com")
        assert (
            code == 3 and "refused: approve: grace.mensah@preskool.com may not approve circuit_break" in out
        )
        code, out, err = await cli("approve", incident, "cb-1", "--by", "asha.rao@preskool.com")
        assert code == 0 and out.strip().endswith("cb-1: 1 approval(s) so far, approved"), out
        code, out, err = await cli(
            "done", incident, "cb-1", "--by", "ben.okafor@preskool.com", "--outcome", "flag fee_reminders=off"
        )
        assert code == 0, err
        status = await status_when(handle, lambda s: s.requests[0].state == "done")
        await finish(handle)
    assert status.requests[0].outcome == "flag fee_reminders=off"


async def test_every_command_says_what_really_happened(cli, dev_env, run_worker):
    """The field's 3 a.m. cases: each refusal is printed with its reason and exits 3; a typo'd
    signal name is refused before anything is sent (and, sent raw, refused in the timeline); a
    person nobody knows is refused for a gated decision and flagged for an acknowledgement; a
    request prints its id and approvers; an approval waits for the action it runs."""
    ic, lead = "asha.rao@preskool.com", "dana.whitfield@preskool.com"
    async with run_worker(dev_env.client) as tq:
        code, out, err = await cli("declare", "--summary", "Fees API 500s", "--severity", "P1", task_queue=tq)
        incident = json.loads(out)["incident_id"]
        handle = dev_env.client.get_workflow_handle(incident)
        await status_when(handle, lambda s: s.cadence)

        code, out, _ = await cli("ack", incident, "--by", "ben.okafr@preskool.com")
        assert code == 0 and "not in the roster (did you mean `ben.okafor@preskool.com`?)" in out, out
        code, out, _ = await cli("signal", incident, "acknowlege", '{"by": "ben.okafor@preskool.com"}')
        assert code == 3 and "no signal 'acknowlege' (did you mean `acknowledge`?)" in out, out
        await handle.signal("acknowlege", {"by": "ben.okafor@preskool.com"})
        code, out, _ = await cli(
            "signal", incident, "acknowledge", '{"by": "ben.okafor@preskool.com", "x": 1}'
        )
        assert code == 3 and "refused: acknowledge: x: Extra inputs are not permitted" in out, out
        code, out, _ = await cli("resolve", incident, "--by", "ben.okafor@preskool.com", "--summary", "ok")
        assert code == 3 and "ben.okafor@preskool.com may not resolve: it needs Incident Commander" in out
        typo = {"by": ic, "deliverable": "postmortm", "link": "https://x"}
        code, out, _ = await cli("signal", incident, "complete_deliverable", json.dumps(typo))
        assert code == 3 and "no deliverable 'postmortm'" in out, out

        code, out, _ = await cli(
            "request", incident, "rollback", "backend", "--by", ic, "--reason", "errors since the deploy"
        )
        assert code == 0 and "request id: rollback-1" in out and "Engineering Lead (Dana" in out, out
        code, out, _ = await cli("approve", incident, "rollback-1", "--by", "dana.whitfeld@preskool.com")
        assert code == 3 and "unknown person: dana.whitfeld@preskool.com is not in the roster" in out, out
        assert f"(did you mean `{lead}`?)" in out
        code, out, _ = await cli("approve", incident, "rollback-1", "--by", lead, "--wait", "30")
        assert "rollback-1: 1 approval(s) so far" in out, out
        final = out.strip().splitlines()[-1]
        assert final.startswith("rollback-1: done (exit code 0)") if code == 0 else code == 4, out
        assert code == 0 or final.startswith("rollback-1: failed (exit code "), out

        status = await status_when(
            handle, lambda s: any("this incident takes no signal 'acknowlege'" in e.text for e in s.timeline)
        )
        code, out, _ = await cli("list")
        row = next(line for line in out.splitlines() if line.startswith(incident))
        assert code == 0 and " P1 " in row and "open" in row and ic in row and "Fees API 500s" in row, out

        # Not a string where a request id goes: refused, and the incident keeps answering.
        code, out, _ = await cli("signal", incident, "approve", json.dumps({"request_id": [], "by": lead}))
        assert code == 3 and "request_id" in out, out
        code, out, _ = await cli("ack", incident, "--by", "ben.okafor@preskool.com")
        assert code == 0, out
        # A forced resolve is resolved, though the gate (Prometheus has no data here) did not verify.
        code, out, _ = await cli(
            "resolve", incident, "--by", ic, "--summary", "x", "--force-reason", "no data"
        )
        assert code == 0 and "resolved, forced without verification: no data" in out, out
        await finish(handle)
    flagged = [e.text for e in status.timeline if e.kind == "not-in-roster"]
    assert flagged == [
        "acknowledge by ben.okafr@preskool.com is not in the roster (did you mean "
        "`ben.okafor@preskool.com`?): accepted, flagged"
    ]


async def test_no_worker_is_exit_5_and_says_so(cli, dev_env, run_worker):
    """With no worker polling, a command says it had no answer (exit 5), not a traceback."""
    async with run_worker(dev_env.client) as tq:
        code, out, err = await cli("declare", "--summary", "Reports fail", "--severity", "P2", task_queue=tq)
        incident = json.loads(out)["incident_id"]
        await status_when(dev_env.client.get_workflow_handle(incident), lambda s: s.phase)
    code, out, err = await cli("ack", incident, "--by", "ben.okafor@preskool.com", "--wait", "2")
    assert code == 5 and f"no answer within 2 s — a worker polled this incident's task queue '{tq}'" in out
    code, out, err = await cli("status", incident, "--wait", "2")
    assert code == 5 and "status: no answer within 2 s" in out, out + err


async def test_an_incident_on_a_queue_nobody_serves_is_named_with_its_queue(cli, dev_env):
    """A newcomer's friction (issue 23): `make demo` run while `make up` ran left its P0 on the
    drill's own task queue, and `irp status` asked "is a worker running?" though one was. The CLI
    now says which queue the incident is on, that nobody polls it, and which queue yours poll."""
    queue = f"incident-response-drill-{uuid.uuid4().hex[:6]}"
    handle = await dev_env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=f"inc-{queue[-6:]}"),
        id=f"inc-{queue[-6:]}",
        task_queue=queue,
    )
    code, out, err = await cli("status", handle.id, "--wait", "2", task_queue="incident-response")
    await handle.terminate("test over")
    assert code == 5, out + err
    assert (
        f"no worker polls this incident's task queue '{queue}'; your workers poll 'incident-response'" in out
    )

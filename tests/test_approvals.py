"""§3, §4.3, §7: risky and forbidden actions wait for the right people, and run once."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from plan.models import Executor
from tests.helpers import finish, status_when
from tests.test_lifecycle import ENG_LEAD, IC, PRIMARY, open_incident
from workflows import IncidentWorkflow

SECONDARY = "chen.li@preskool.com"
DB_LEAD = "grace.mensah@preskool.com"
# Appends one line per run, so the test can count how often an action ran.
RECORD = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')"


@pytest.fixture
def runs(tmp_path) -> Path:
    return tmp_path / "runs.log"


@pytest.fixture
def drill_policy(policy, runs):
    """The shipped catalogue, with harmless executors that record each run."""

    def recording(*extra: str) -> Executor:
        return Executor(
            command=[sys.executable, "-c", RECORD, str(runs), *extra, "{target}"],
            timeout=timedelta(seconds=30),
        )

    actions = dict(policy.actions)
    actions["rollback"] = actions["rollback"].model_copy(update={"executor": recording("rollback")})
    actions["drop_tables"] = actions["drop_tables"].model_copy(update={"executor": recording("drop")})
    actions["restart_scale"] = actions["restart_scale"].model_copy(
        update={
            "executor": Executor(
                command=[
                    sys.executable,
                    "-c",
                    "import sys; print('boom on', sys.argv[1]); sys.exit(3)",
                    "{target}",
                ]
            )
        }
    )
    return policy.model_copy(update={"actions": actions})


def lines(runs: Path) -> list[str]:
    return runs.read_text().splitlines() if runs.exists() else []


def request(status, request_id):
    return next(r for r in status.requests if r.request_id == request_id)


def refusals(status) -> list[str]:
    return [e.text for e in status.timeline if e.kind == "refused"]


async def test_rollback_waits_for_the_engineering_lead_and_runs_once(
    time_env, run_worker, drill_policy, runs, slack
):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, module="fees")
        await handle.signal(
            "request_action",
            {
                "action": "rollback",
                "target": "backend",
                "by": PRIMARY,
                "reason": "errors began with the 09:55 deploy",
            },
        )
        await handle.signal("approve", {"request_id": "rollback-1", "by": PRIMARY})  # own request
        await handle.signal("approve", {"request_id": "rollback-1", "by": IC})  # not the Eng Lead
        status = await status_when(handle, lambda s: len(refusals(s)) == 2)
        assert request(status, "rollback-1").state == "pending" and lines(runs) == []
        await handle.signal("approve", {"request_id": "rollback-1", "by": ENG_LEAD})
        status = await status_when(handle, lambda s: request(s, "rollback-1").state == "done")
        await handle.signal("approve", {"request_id": "rollback-1", "by": ENG_LEAD})
        status = await status_when(handle, lambda s: len(refusals(s)) == 3)
        await finish(handle)
    assert lines(runs) == ["rollback backend"]
    assert "ben.okafor@preskool.com requested rollback-1 and cannot approve it" in refusals(status)[0]
    assert "asha.rao@preskool.com may not approve rollback: it needs Engineering Lead" in refusals(status)[1]
    assert "already done" in refusals(status)[2]
    done = request(status, "rollback-1")
    assert done.exit_code == 0 and [a.by for a in done.approvals] == [ENG_LEAD]
    texts = [m["text"] for m in slack.messages(status.channel)]
    ask = next(t for t in texts if t.startswith("🛂 APPROVAL NEEDED — Rollback"))
    assert "Will run once, after approval: `" in ask and "backend`" in ask
    assert "Needs: 1 approval from Engineering Lead (Dana Whitfield); never the requester" in ask
    assert '`approve` with {"request_id": "rollback-1", "by": "<your email>"}' in ask
    assert f"irp approve {status.incident_id} rollback-1 --by <your email>" in ask
    assert any(t.startswith("🚫 Refused `approve`") for t in texts)  # refusals reach the bridge too
    assert any(t.startswith("🟢 rollback-1 done, exit code 0") for t in texts)


async def test_forbidden_action_runs_only_after_ic_approval(time_env, run_worker, drill_policy, runs, slack):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, scope="all")
        await handle.signal("approve", {"request_id": "drop-1", "by": IC})  # before any request
        await handle.signal(
            "request_action",
            {
                "request_id": "drop-1",
                "action": "drop_tables",
                "target": "audit_log_tmp",
                "by": DB_LEAD,
                "reason": "bloat",
            },
        )
        await handle.signal("approve", {"request_id": "drop-1", "by": ENG_LEAD})
        status = await status_when(handle, lambda s: len(refusals(s)) == 2)
        assert lines(runs) == [] and request(status, "drop-1").state == "pending"
        await handle.signal("approve", {"request_id": "drop-1", "by": IC})
        status = await status_when(handle, lambda s: request(s, "drop-1").state == "done")
        await finish(handle)
    assert lines(runs) == ["drop audit_log_tmp"]
    assert "no request 'drop-1' in this incident" in refusals(status)[0]
    assert "may not approve drop_tables: it needs Incident Commander (IC)" in refusals(status)[1]
    assert any(m["text"].startswith("⛔ FORBIDDEN ACTION (§7)") for m in slack.messages(status.channel))


async def test_secrets_need_the_ic_and_a_second_engineer_neither_the_requester(
    time_env, run_worker, drill_policy
):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, scope="all")
        await handle.signal(
            "request_action",
            {
                "request_id": "rotate-db",
                "action": "modify_secrets",
                "target": "db-password",
                "by": PRIMARY,
                "reason": "leaked in a log",
            },
        )
        for by in (ENG_LEAD, SECONDARY, PRIMARY):  # two engineers, no IC; then the requester
            await handle.signal("approve", {"request_id": "rotate-db", "by": by})
        status = await status_when(
            handle, lambda s: len(request(s, "rotate-db").approvals) == 2 and refusals(s)
        )
        assert request(status, "rotate-db").state == "pending", "no IC among the approvers yet"
        await handle.signal("approve", {"request_id": "rotate-db", "by": IC})
        status = await status_when(handle, lambda s: request(s, "rotate-db").state == "approved")
        await handle.signal(
            "action_done", {"request_id": "rotate-db", "by": SECONDARY, "outcome": "rotated in Vault"}
        )
        status = await status_when(handle, lambda s: request(s, "rotate-db").state == "done")
        await finish(handle)
    assert "requested rotate-db and cannot approve it" in refusals(status)[0]
    assert request(status, "rotate-db").outcome == "rotated in Vault"


async def test_two_approvals_from_one_person_count_once(time_env, run_worker, drill_policy):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, scope="all")
        await handle.signal(
            "request_action",
            {
                "request_id": "s",
                "action": "modify_secrets",
                "target": "api-key",
                "by": PRIMARY,
                "reason": "rotate",
            },
        )
        await handle.signal("approve", {"request_id": "s", "by": IC})
        await handle.signal("approve", {"request_id": "s", "by": IC})
        status = await status_when(handle, lambda s: refusals(s))
        await finish(handle)
    assert "asha.rao@preskool.com already approved s" in refusals(status)[0]
    assert request(status, "s").state == "pending"


async def test_a_changed_request_needs_new_approval(time_env, run_worker, drill_policy):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, scope="all")
        ask = {
            "request_id": "s",
            "action": "modify_secrets",
            "target": "api-key",
            "by": PRIMARY,
            "reason": "rotate",
        }
        await handle.signal("request_action", ask)
        await handle.signal("approve", {"request_id": "s", "by": IC})
        await handle.signal("request_action", {**ask, "target": "db-password"})
        await handle.signal("approve", {"request_id": "s", "by": SECONDARY})
        status = await status_when(handle, lambda s: len(request(s, "s").approvals) == 2)
        assert request(status, "s").state == "pending", "the IC approved another target"
        await handle.signal("approve", {"request_id": "s", "by": IC})
        status = await status_when(handle, lambda s: request(s, "s").state == "approved")
        await finish(handle)
    assert request(status, "s").target == "db-password"


async def test_requests_expire(time_env, run_worker, drill_policy, runs, slack):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, module="fees")
        await handle.signal(
            "request_action", {"action": "rollback", "target": "backend", "by": PRIMARY, "reason": "x"}
        )
        await status_when(handle, lambda s: s.requests)
        await time_env.sleep(timedelta(minutes=31))
        status = await status_when(handle, lambda s: request(s, "rollback-1").state == "expired")
        await handle.signal("approve", {"request_id": "rollback-1", "by": ENG_LEAD})
        status = await status_when(handle, lambda s: refusals(s))
        await finish(handle)
    assert "request rollback-1 expired" in refusals(status)[0] and lines(runs) == []
    assert any(m["text"].startswith("⌛ rollback-1 expired") for m in slack.messages(status.channel))


@pytest.mark.parametrize(
    "signal, payload, reason",
    [
        ("approve", {"request_id": "x"}, "by: Field required"),
        ("approve", {"request_id": 7, "by": IC}, "request_id: Input should be a valid string"),
        ("approve", {"request_id": "x", "by": IC, "sudo": True}, "sudo: Extra inputs are not permitted"),
        ("approve", ["x"], "a list of 1 item(s): send one JSON object, not a list"),
        (
            "request_action",
            {"action": "format_disk", "target": "db", "by": IC, "reason": "x"},
            "unknown action 'format_disk'",
        ),
        (
            "request_action",
            {"action": "rollback", "target": "--all", "by": IC, "reason": "x"},
            "target: String should match",
        ),
        ("deny", {"request_id": "nope", "by": IC}, "no request 'nope'"),
        ("action_done", {"request_id": "nope", "by": IC, "outcome": "x"}, "nope cannot be reported done"),
    ],
)
async def test_every_bad_input_is_refused_visibly(
    time_env, run_worker, drill_policy, slack, signal, payload, reason
):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, module="fees")
        await handle.signal(signal, payload)
        status = await status_when(handle, lambda s: refusals(s))
        await finish(handle)
    assert reason in refusals(status)[0]
    assert any(
        m["text"].startswith(f"🚫 Refused `{signal}`") and reason in m["text"]
        for m in slack.messages(status.channel)
    )


async def test_deny_and_the_requester_may_withdraw(time_env, run_worker, drill_policy, runs):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, module="fees")
        for n in (1, 2):
            await handle.signal(
                "request_action",
                {
                    "request_id": f"r{n}",
                    "action": "rollback",
                    "target": "backend",
                    "by": PRIMARY,
                    "reason": "x",
                },
            )
        await handle.signal("deny", {"request_id": "r1", "by": SECONDARY, "reason": "not an approver"})
        await handle.signal("deny", {"request_id": "r1", "by": ENG_LEAD, "reason": "not a deploy problem"})
        await handle.signal("deny", {"request_id": "r2", "by": PRIMARY, "reason": "withdrawn"})
        await handle.signal("approve", {"request_id": "r1", "by": ENG_LEAD})
        status = await status_when(handle, lambda s: len(refusals(s)) == 2)
        await finish(handle)
    assert [request(status, r).state for r in ("r1", "r2")] == ["denied", "denied"]
    assert "may not deny rollback" in refusals(status)[0] and "already denied" in refusals(status)[1]
    assert lines(runs) == []


async def test_a_failing_command_is_recorded_not_retried(time_env, run_worker, drill_policy):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, module="fees")
        await handle.signal(
            "request_action",
            {"action": "restart_scale", "target": "backend", "by": PRIMARY, "reason": "pods stuck"},
        )
        await handle.signal("approve", {"request_id": "restart-scale-1", "by": IC})
        status = await status_when(handle, lambda s: request(s, "restart-scale-1").state == "failed")
        await finish(handle)
    failed = request(status, "restart-scale-1")
    assert failed.exit_code == 3 and "boom on backend" in failed.outcome


async def test_update_gives_immediate_feedback(time_env, run_worker, drill_policy):
    async with run_worker(time_env.client, with_policy=drill_policy) as tq:
        handle = await open_incident(time_env, tq, drill_policy, module="fees")
        await handle.signal(
            "request_action",
            {
                "action": "circuit_break",
                "target": "fee-reminders",
                "by": PRIMARY,
                "reason": "reminder emails hammer the API",
            },
        )
        await status_when(handle, lambda s: s.requests)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                IncidentWorkflow.approve_action, {"request_id": "circuit-break-1", "by": DB_LEAD}
            )
        assert "may not approve circuit_break" in str(refused.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as malformed:
            await handle.execute_update(IncidentWorkflow.approve_action, {"request_id": "circuit-break-1"})
        assert "by: Field required" in str(malformed.value.cause)
        approved = await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "circuit-break-1", "by": IC}
        )
        await finish(handle)
    assert approved.state == "approved" and approved.command is None

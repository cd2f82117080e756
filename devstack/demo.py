"""`make demo`: a real drill of an incident on the embedded Temporal server.

It starts (or reuses) the embedded Temporal dev server, a sandbox that speaks the Slack and
PagerDuty APIs, the worker and the webhook receiver, each as its own process exactly as you
would run them; then Alertmanager "fires" a P0 at the receiver and the drill prints what was
paged, the real bridge messages, and where to watch it in the Temporal Web UI."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx

from connection.temporal import connect, exit_now
from devstack import devserver
from devstack.drill import drill_policy
from devstack.stack import LOCAL_BUILD
from plan import load_policy
from plan.attestation import new_key_pair
from sandbox.settings import sandbox_env_from_startup
from workflows import IncidentWorkflow

ROOT = Path(__file__).resolve().parent.parent  # the checkout: the processes run from there
LOGS = ROOT / ".data" / "demo-logs"
SANDBOX_STATE = ROOT / ".data" / "sandbox-state.json"
STEPS = 8
IRP = os.path.relpath(Path(sys.executable).parent / "irp", Path.cwd())  # the CLI as `make install` puts it


def step(n: int, text: str) -> None:
    print(f"[{n}/{STEPS}] {text}", flush=True)


def free_port(preferred: int) -> int:
    if not devserver.port_open("127.0.0.1", preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(stack: ExitStack, name: str, args: list[str], env: dict, stdout=None) -> subprocess.Popen:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "wb")
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=stdout or log, stderr=log)
    stack.callback(stop, proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    sys.exit(f"demo: {what} did not happen within {timeout:.0f} s; logs are in {LOGS}")


def drill_alert(drill: str) -> dict:
    """What Alertmanager sends when the API fails every request (a §2 P0 example)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {
        "alertname": "ApiErrorsAllRequests",
        "severity": "critical",
        "scope": "all",
        "module": "auth",
        "namespace": "preskool",
        "job": "backend",
        "drill": drill,
    }
    return {
        "version": "4",
        "status": "firing",
        "receiver": "preskool-irp",
        "groupKey": f'{{}}:{{alertname="ApiErrorsAllRequests", drill="{drill}"}}',
        "groupLabels": {"alertname": "ApiErrorsAllRequests"},
        "commonLabels": labels,
        "commonAnnotations": {
            "summary": "API returning 500s for all requests",
            "impact": "All schools: login and every API call fail",
        },
        "externalURL": "http://alertmanager.preskool.com",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "API returning 500s for all requests"},
                "startsAt": now,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.preskool.com/d/preskool-slo",
                "fingerprint": drill,
            }
        ],
    }


async def incident_status(incident_id: str):
    client = await connect()
    return await client.get_workflow_handle(incident_id).query(IncidentWorkflow.status)


async def _terminate(incident_id: str, reason: str) -> None:
    client = await connect()
    await client.get_workflow_handle(incident_id).terminate(reason=reason)


def close_drill(incident_id: str, task_queue: str) -> None:
    """On a server the demo did not start (`make up` already running), the drill's incident is on
    the drill's own task queue, which only the demo's worker polls: it is ended with the demo, with
    the reason in the Web UI, rather than left open with nobody to serve it."""
    reason = f"drill over: the demo's worker (task queue {task_queue}) stopped with the demo"
    try:
        asyncio.run(_terminate(incident_id, reason))
        print(
            f"\nThe drill's incident {incident_id} is ended ({reason});"
            " the running stack's own incidents are untouched."
        )
    except Exception as e:  # already closed, or Temporal gone: say so, never a traceback at exit
        print(
            f"\nThe drill's incident {incident_id} could not be ended ({type(e).__name__}):"
            f" {IRP} status shows it"
        )


def main() -> None:
    drill = datetime.now(UTC).strftime("drill-%Y%m%d-%H%M%S")
    (ROOT / ".data").mkdir(exist_ok=True)
    env = {
        **LOCAL_BUILD,  # the local stack's build (devstack/stack.py): `make up` serves the drill after
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "IRP_DRILL": "1",  # scripts/rollback.sh and its kind only say what they would run
        "IRP_POLICY_FILE": str(drill_policy(ROOT / ".data" / "drill-policy.yaml")),
    }
    env.pop("TEMPORAL_ADDRESS", None)
    reusing = devserver.port_open("127.0.0.1", 7233)
    # On its own server the drill uses the task queue `make up`'s worker polls, so its incident
    # can be worked after the demo; on a server already running, a queue of its own (a worker
    # there may be wired to other fakes or to the real services).
    task_queue = (
        f"incident-response-{drill}" if reusing else (env.get("TEMPORAL_TASK_QUEUE") or "incident-response")
    )
    env["TEMPORAL_TASK_QUEUE"] = task_queue
    with ExitStack() as stack:
        if reusing:
            step(1, f"Temporal: reusing the server already on localhost:7233 (task queue {task_queue})")
        else:
            step(1, "Temporal: starting the embedded dev server (SQLite in .data/, Web UI on :8233)…")
            LOGS.mkdir(parents=True, exist_ok=True)
            server = devserver.start(log=LOGS / "temporal.log")
            stack.callback(stop, server)

        step(
            2, "Sandbox: local Slack, PagerDuty (HTTPS, throwaway CA), Statuspage, Prometheus, Jira and SMTP…"
        )
        sandbox = spawn(
            stack,
            "sandbox",
            ["-m", "sandbox", "--state-file", str(SANDBOX_STATE)],
            env,
            stdout=subprocess.PIPE,
        )
        urls = json.loads(sandbox.stdout.readline() or "{}")
        if not urls:
            sys.exit(f"demo: the sandbox did not start; see {LOGS / 'sandbox.log'}")
        env.update(sandbox_env_from_startup(urls))
        # The Slack app in the receiver (issue 15): people click in the sandbox Slack, the receiver
        # attests who clicked, and the incident checks it with the public key its worker holds.
        private, public = new_key_pair()
        env.update(IRP_ATTESTATION_KEY=private, IRP_ATTESTATION_PUBLIC_KEYS=public)
        if not reusing:  # `make up` serves the drill's incident: its receiver signs with this key
            keep_secret(ROOT / ".data" / "drill-attestation-key", private)

        metrics_port = free_port(9464)
        step(
            3, f"Worker: polling task queue {task_queue}, metrics on http://127.0.0.1:{metrics_port}/metrics…"
        )
        spawn(stack, "worker", ["worker.py"], {**env, "IRP_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}"})

        port = free_port(8000)
        token = secrets.token_urlsafe(24)
        step(4, f"Webhook receiver: http://127.0.0.1:{port} (bearer token generated for this drill)…")
        spawn(
            stack,
            "webhook",
            ["-m", "webhook"],
            {**env, "IRP_WEBHOOK_PORT": str(port), "IRP_WEBHOOK_TOKEN": token},
        )
        wait_until(lambda: devserver.port_open("127.0.0.1", port), "the webhook receiver listening")

        step(5, "Drill: Alertmanager fires ApiErrorsAllRequests (scope=all) at the receiver…")
        answer = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/alertmanager",
            json=drill_alert(drill),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        print(f"      receiver answered {answer.status_code}: {answer.text}")
        if answer.status_code != 202:
            sys.exit(f"demo: the receiver refused the alert; logs are in {LOGS}")
        incident_id = answer.json()["incidents"][0]["incident_id"]
        if reusing:  # its worker stops with the demo: never leave a P0 that nothing serves
            stack.callback(close_drill, incident_id, task_queue)
        status = wait_until(
            lambda: (
                (s := asyncio.run(incident_status(incident_id))).cadence
                and any(e.text.startswith("posted the opening") for e in s.timeline)
                and s
            ),
            "the bridge opening",
        )

        ic = next(r.person for r in status.roles if r.role == "incident_commander")
        primary = next(r.person for r in status.roles if r.role == "oncall_primary")
        eng_lead = next(r.person for r in status.roles if r.role == "engineering_lead")
        receiver = f"http://127.0.0.1:{port}"
        step(6, "The incident is worked from Slack (signed clicks) and the CLI (the UI takes the same JSON):")
        click(urls, receiver, primary, "Acknowledge", status.channel, "🚨 INCIDENT OPENED", "irp.ack")
        wait_until(lambda: asyncio.run(incident_status(incident_id)).acknowledged_by, "the acknowledgement")
        cli(env, "blast-radius", incident_id, "--by", primary, "--scope", "all")
        cli(
            env,
            "request",
            incident_id,
            "rollback",
            "backend",
            "--by",
            primary,
            "--id",
            "rollback-1",
            "--reason",
            "errors began with the 09:55 deploy",
        )
        print("      … a request names its requester, who may never approve it: Ben confirms it was him:")
        claim_delivered(incident_id, 1)
        click(urls, receiver, primary, "Confirm (in his direct messages)", "dm", "🔐", "irp.confirm")
        wait_until(lambda: asyncio.run(incident_status(incident_id)).requests, "the rollback request")
        cli(env, "approve", incident_id, "rollback-1", "--by", ic, check=False)
        print("      … refused: §3 says the Engineering Lead approves rollbacks.")
        print("      The Engineering Lead approves from the CLI: a claim, until she confirms it in Slack:")
        cli(env, "approve", incident_id, "rollback-1", "--by", eng_lead)
        claim_delivered(incident_id, 2)
        click(urls, receiver, eng_lead, "Confirm (in her direct messages)", "dm", "🔐", "irp.confirm")
        wait_until(
            lambda: asyncio.run(incident_status(incident_id)).requests[0].state == "done", "the rollback"
        )
        click(urls, receiver, ic, "Post update", status.channel, "🚨 INCIDENT OPENED", "irp.update")
        submit(
            urls,
            receiver,
            ic,
            {
                "status": "ONGOING",
                "current_action": "Rolling back the 09:55 backend deploy",
                "what_we_know": "Deploy broke session handling",
                "public": ["yes"],
            },
        )
        wait_until(
            lambda: (asyncio.run(incident_status(incident_id)).cadence.updates_posted or 0) >= 1,
            "the §5.2 update",
        )
        cli(env, "mitigate", incident_id, "--by", primary, "--summary", "Rolled back; error rate falling")
        prometheus(urls, "error rate", 0.024)
        cli(env, "resolve", incident_id, "--by", ic, "--summary", "Rolled back the deploy", check=False)
        wait_until(lambda: asyncio.run(incident_status(incident_id)).gate_runs, "the first resolve gate")
        print(
            "      … the gate refuses: Prometheus still shows 2.4% errors. A few minutes later it recovers:"
        )
        prometheus(urls, "error rate", 0.0004)
        cli(
            env,
            "resolve",
            incident_id,
            "--by",
            ic,
            "--summary",
            "Rolled back the deploy",
            "--root-cause",
            "A deploy changed session handling",
        )
        status = wait_until(
            lambda: (s := asyncio.run(incident_status(incident_id))).phase == "REVIEW" and s,
            "the incident reaching REVIEW",
        )

        comms = next(r.person for r in status.roles if r.role == "communications_lead")
        step(7, "After resolution (§4.6, §8): the post-mortem draft, Jira tickets, the customer email ledger")
        cli(env, "approve", incident_id, "customer-email", "--by", comms)
        claim_delivered(incident_id, 3)
        click(urls, receiver, comms, "Confirm (in her direct messages)", "dm", "🔐", "irp.confirm")
        status = wait_until(
            lambda: (
                (s := asyncio.run(incident_status(incident_id))).deliverables
                and s.deliverables[0].state == "done"
                and s
            ),
            "the customer email going out",
        )

        step(8, "What happened")
        show(status, urls)
        show_metrics(metrics_port)
        print(
            f"\nWatch it in the Temporal Web UI: http://localhost:8233/namespaces/default/workflows/{incident_id}"
        )
        if not reusing:
            print(
                "The drill's incident is kept in .data/: `make up` serves it again (UI, worker and all),\n"
                f"and `{IRP} status {incident_id}` works it from another terminal."
            )


def click(
    urls: dict, receiver: str, email: str, label: str, channel: str, starting: str, action: str
) -> None:
    """A person clicks a button in the sandbox Slack; the sandbox signs it as Slack would."""
    user = slack_user(email)
    print(f"      [Slack] {email} clicks {label}")
    done = sandbox_act(
        urls, {"as": user, "do": "click", "receiver": receiver, "channel": channel, "starting": starting,
               "action_id": action},
    )  # fmt: skip
    if done.get("status") != 200:
        sys.exit(f"demo: the click was not taken: {done}")


def submit(urls: dict, receiver: str, email: str, values: dict) -> None:
    """The person fills in the modal the app opened for them, and sends it."""
    print(f"      [Slack] {email} fills in the modal: " + "; ".join(f"{k}={v}" for k, v in values.items()))
    done = sandbox_act(
        urls, {"as": slack_user(email), "do": "submit", "receiver": receiver, "values": values}
    )
    if done.get("status") != 200 or "errors" in done.get("body", ""):
        sys.exit(f"demo: the modal was not taken: {done}")


def keep_secret(path: Path, value: str) -> None:
    """Write a secret readable by its owner only."""
    path.write_text("")
    path.chmod(0o600)
    path.write_text(value + "\n")


def claim_delivered(incident_id: str, n: int) -> None:
    """Wait until claim-n's direct message is out (it goes in the chat lane, after the answer)."""
    wait_until(
        lambda: any(
            e.kind == "notified" and e.text.startswith(f"claim-{n} ")
            for e in asyncio.run(incident_status(incident_id)).timeline
        ),
        f"claim-{n}'s direct message",
    )


def sandbox_act(urls: dict, body: dict) -> dict:
    root = urls["slack_url"].rstrip("/").rsplit("/api", 1)[0]
    time.sleep(0.3)  # let the previous message land, as a person would
    return httpx.post(f"{root}/_sandbox/act", json=body, timeout=30).json()


def slack_user(email: str) -> str:
    person = next(p for p in load_policy().roster.values() if p.email == email)
    return person.contacts["slack"]


def cli(env: dict, *args: str, check: bool = True) -> None:
    """Run the CLI (`python starter.py`, installed as `irp`) as an SRE would, and show the command and what
    it printed (the incident's answer)."""
    shown = " ".join(
        a if a.replace("-", "").replace(".", "").replace("@", "").isalnum() else repr(a) for a in args
    )
    print(f"      $ {IRP} {shown}")
    done = subprocess.run(
        [sys.executable, "starter.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    for line in done.stdout.strip().splitlines()[:3]:
        print(f"        {line}")
    if done.returncode not in (0, 6) and check:  # 6: a claim, confirmed next with a click
        sys.exit(f"demo: {IRP} {args[0]} failed ({done.returncode}): {done.stderr.strip()}")


def prometheus(urls: dict, check: str, value: float) -> None:
    """Tell the sandbox's Prometheus what the §4.5 checks measure now (healthy except `check`)."""
    answers = {}
    for c in load_policy().recovery_checks:
        healthy = c.threshold / 2 if c.op in ("<", "<=") else c.threshold
        answers[c.query] = value if c.name == check else healthy
    httpx.post(urls["prometheus_url"].rstrip("/") + "/_sandbox/answers", json=answers).raise_for_status()


def show(status, urls: dict) -> None:
    print(f"\nIncident {status.incident_id}: {status.severity} — {'; '.join(status.severity_reasons)}")
    pages = httpx.get(
        urls["pagerduty_url"] + "/_sandbox/calls", verify=ssl.create_default_context(cafile=urls["ca_bundle"])
    ).json()
    print("\nPaged (PagerDuty Events API v2, as the sandbox received them):")
    for call in pages["calls"]:
        body = call["params"] or {}
        if call["path"] == "/v2/enqueue" and body.get("event_action") == "trigger":
            print(
                f"  • {body['payload']['custom_details'].get('role')}: {body['payload']['summary']}"
                f"  [dedup_key {body['dedup_key']}, answered {call['status']}]"
            )
    slack = httpx.get(urls["slack_url"].rstrip("/").rsplit("/api", 1)[0] + "/_sandbox/calls").json()
    channels, direct = posts_by_place(slack)
    for name, texts in channels.items():
        where = "Bridge" if name == status.channel else "Channel"
        print(f"\n{where} #{name} (Slack Web API, as the sandbox received it):")
        for text in texts:
            text = readable(text, status)
            if text.startswith("📝 Post-mortem draft"):
                text = "\n".join(
                    text.splitlines()[:14] + ["… (the whole draft is in the bridge and the Jira ticket)"]
                )
            print("  " + text.replace("\n", "\n  "))
    print("\nDirect messages (each to one person, not in the bridge; the same text once, with its people):")
    for text, people in direct.items():
        print(f"  to {', '.join(people)}: " + readable(text, status).replace("\n", "\n    "))
    statuspage = httpx.get(urls["statuspage_url"].rstrip("/") + "/_sandbox/calls").json()
    print("\nStatus page (Statuspage REST API, as the sandbox received it):")
    for incident in statuspage["incidents"]:
        print(f"  {incident['name']} [{incident['status']}]")
        for update in reversed(incident["incident_updates"]):
            print(f"    {update['status']:<13} " + update["body"].replace("\n", " "))
    sandbox_state = json.loads(SANDBOX_STATE.read_text()) if SANDBOX_STATE.exists() else {}
    print("\nCustomer email (§5.4, SMTP, as the sandbox received it, one per school):")
    for message in sandbox_state.get("smtp", {}).get("messages", []):
        if message["headers"].get("Subject", "").startswith("[UPDATE]"):
            print(f"  To: {', '.join(message['rcpt_tos'])}")
    first = next(
        (
            m
            for m in sandbox_state.get("smtp", {}).get("messages", [])
            if m["headers"].get("Subject", "").startswith("[UPDATE]")
        ),
        None,
    )
    if first:
        print(f"  Subject: {first['headers']['Subject']}\n  " + first["body"].strip().replace("\n", "\n  "))
    jira = httpx.get(urls["jira_url"].rstrip("/") + "/_sandbox/calls").json()
    print("\nJira tickets (REST v3, as the sandbox received them):")
    for issue in jira.get("issues", []):
        print(f"  {issue['key']}: {issue['fields']['summary']} (due {issue['fields'].get('duedate')})")
    print(f"\n§8 deliverables ({IRP} deliverables INCIDENT):")
    for d in status.deliverables:
        print(
            f"  {d.state:<8} {d.title:<34} due {d.due_at:%Y-%m-%d %H:%M UTC}"
            + (f"  {d.link}" if d.link else "")
        )
    print("\nTimeline:")
    for entry in status.timeline:
        print(f"  {entry.at:%H:%M:%S}  {entry.kind:<14} {entry.text}")


def posts_by_place(slack: dict) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The sandbox Slack's accepted chat.postMessage calls (its /_sandbox/calls answer), split by
    where they went: channel name → texts in order, and direct messages as text → the users it
    went to (a post-mortem invitation sent to five people is one line, not five bridge posts)."""
    names = {c["id"]: c["name"] for c in slack.get("channels", [])}
    channels: dict[str, list[str]] = {}
    direct: dict[str, list[str]] = {}
    for call in slack["calls"]:
        if not (call["path"].endswith("chat.postMessage") and call["status"] == 200):
            continue
        to, text = call["params"].get("channel", ""), call["params"].get("text", "")
        if to.startswith(("D", "U", "W")):  # an IM's id, or a user's (Slack opens the IM)
            person = names.get(to, to) if to.startswith("D") else to
            direct.setdefault(text, []).append(person)
        else:
            channels.setdefault(names.get(to, to.lstrip("#")), []).append(text)
    return channels, direct


def show_metrics(port: int) -> None:
    """The incident metrics the worker exports (Prometheus text format), as a scrape sees them."""

    def scrape():
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return text if "irp_time_to_resolve_count" in text else None

    text = wait_until(scrape, "the incident metrics")
    print(f"\nIncident metrics (http://127.0.0.1:{port}/metrics):")
    for line in text.splitlines():
        if line.startswith(
            (
                "irp_incidents_opened",
                "irp_time_to_acknowledge_count",
                "irp_time_to_acknowledge_sum",
                "irp_time_to_mitigate_count",
                "irp_time_to_resolve_count",
                "irp_time_to_resolve_sum",
            )
        ):
            print("  " + line)


def readable(text: str, status) -> str:
    """Slack shows <@U…> mentions as names; so does the drill's printout."""
    for role in status.roles:
        person = next((p for p in load_policy().roster.values() if p.email == role.person), None)
        if person and "slack" in person.contacts:
            text = text.replace(f"<@{person.contacts['slack']}>", f"@{person.name}")
    return text


if __name__ == "__main__":
    main()
    exit_now(0)

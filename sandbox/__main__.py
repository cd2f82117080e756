"""The fakes in one process for the demo: prints one JSON line with where they listen, serves
until SIGTERM/SIGINT, and each fake shows what it received at GET /_sandbox/calls. The SMTP
server speaks no HTTP: the messages it received are in the state file ("smtp"), rewritten as each
one arrives."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys

from plan import load_policy
from sandbox.jira import DEFAULT_EMAIL as JIRA_EMAIL
from sandbox.jira import DEFAULT_PROJECT as JIRA_PROJECT
from sandbox.jira import DEFAULT_TOKEN as JIRA_TOKEN
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.slack import DEFAULT_TOKEN, TEAM_ID, SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import DEFAULT_KEY, DEFAULT_PAGE_ID, StatuspageFake


def _write(path: str, data: dict) -> None:
    """Atomically, so a reader never sees half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def roster_users() -> dict[str, dict]:
    """Slack user id → {name, email} for the policy's people who have a Slack user."""
    try:
        people = load_policy().roster.values()
    except Exception:  # a sandbox without a readable policy still serves, with no users
        return {}
    return {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in people if "slack" in p.contacts}


async def serve(args: argparse.Namespace) -> int:
    # #preskool-alerts: where the dead man's switch tells a silent alerting pipeline (README).
    # The roster's people are the workspace's users (users.info gives their emails), and the app's
    # signing secret lets the demo act as them (POST /_sandbox/act).
    signing_secret = secrets.token_hex(16)
    slack = SlackFake(
        channels=("general", "preskool-alerts"), users=roster_users(), signing_secret=signing_secret
    )
    pagerduty = PagerDutyFake()
    statuspage, prometheus = StatuspageFake(), PrometheusFake()
    try:  # production recovered: the §4.5 checks pass until someone (the demo) says otherwise
        prometheus.healthy(load_policy())
    except Exception:  # no readable policy: Prometheus has no data, and the gate says so
        pass
    await slack.start(args.host, args.slack_port)
    await pagerduty.start(args.host, args.pagerduty_port)
    await statuspage.start(args.host, args.statuspage_port)
    await prometheus.start(args.host, args.prometheus_port)
    jira = JiraFake()
    await jira.start(args.host, args.jira_port)
    loop, stopping = asyncio.get_running_loop(), asyncio.Event()
    # Same CA as PagerDuty's: IRP_CA_BUNDLE=ca_bundle covers both (smtp_ca_bundle is a copy).
    smtp = SmtpSandbox(ca=pagerduty.ca, on_message=lambda _: loop.call_soon_threadsafe(received))
    await smtp.start(args.host, args.smtp_port)
    info = {
        "slack_url": slack.url,
        "pagerduty_url": pagerduty.url,
        "ca_bundle": pagerduty.ca_pem_path,
        "slack_token": DEFAULT_TOKEN,
        "slack_signing_secret": signing_secret,
        "slack_team_id": TEAM_ID,
        "statuspage_url": statuspage.url,
        "statuspage_api_key": DEFAULT_KEY,
        "statuspage_page_id": DEFAULT_PAGE_ID,
        "prometheus_url": prometheus.url,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_username": smtp.username,
        "smtp_password": smtp.password,
        "smtp_ca_bundle": smtp.ca_pem_path,
    }
    info.update(
        jira_url=jira.url, jira_email=JIRA_EMAIL, jira_api_token=JIRA_TOKEN, jira_project=JIRA_PROJECT
    )

    def received() -> None:  # in this loop, for each message the SMTP server took
        if args.state_file and not stopping.is_set():
            _write(args.state_file, {**info, "smtp": smtp.snapshot()})

    if args.state_file:
        _write(args.state_file, info)
    print(json.dumps(info), flush=True)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()

    if args.state_file:  # what happened, for whoever looks after the sandbox is gone
        _write(
            args.state_file,
            {
                **info,
                "slack": slack.snapshot(),
                "pagerduty": pagerduty.snapshot(),
                "statuspage": statuspage.snapshot(),
                "prometheus": prometheus.snapshot(),
                "smtp": smtp.snapshot(),
                "jira": jira.snapshot(),
            },
        )
    await smtp.stop()
    smtp.close()
    for fake in (slack, pagerduty, statuspage, prometheus, jira):
        await fake.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--slack-port", type=int, default=0)
    parser.add_argument("--pagerduty-port", type=int, default=0)
    parser.add_argument("--statuspage-port", type=int, default=0)
    parser.add_argument("--prometheus-port", type=int, default=0)
    parser.add_argument("--jira-port", type=int, default=0)
    parser.add_argument("--smtp-port", type=int, default=0)
    parser.add_argument(
        "--state-file", help="also write the startup JSON here; on exit, add what was received"
    )
    return asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

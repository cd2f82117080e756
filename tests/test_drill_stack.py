"""`irp drill SCENARIO --stack` (issue 24): a drill on a running drill stack (`make up` with the
sandbox and IRP_DRILL_SPEED_UP), on the incident's own sped-up clock, while a person joins live
with `irp` from another terminal. Everything runs as its own process, as a person runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest
import yaml

from plan import load_policy
from plan.models import Role
from tests.processes import free_port
from tests.test_stack import ROOT, run_irp, running, stack_command, stack_env

SPEED_UP, AFTER = 60, 3600  # 25 minutes of an open P1 in 25 s; the day after in 24 s
ENV = stack_env(free_port(), IRP_DRILL_SPEED_UP=f"{SPEED_UP},{AFTER}")
POLICY = load_policy()
IC = POLICY.roster[Role.incident_commander].email

SCENARIO = {
    "title": "A live drill: a P1 acknowledged late in Slack, its update from a person who joined",
    "alerts": [
        {
            "at": "0s",
            "labels": {"alertname": "LiveDrillFees", "severity": "critical", "module": "fees"},
            "annotations": {"summary": "Fee payments failing", "impact": "Parents cannot pay"},
        }
    ],
    "steps": [
        {"at": "5m", "who": "oncall_primary", "via": "slack", "do": "acknowledge", "note": "3 min late"},
        {"at": "20m", "who": "prometheus", "do": "recovery", "with": {"healthy": True}},
        {
            "at": "25m",
            "who": "incident_commander",
            "do": "resolve",
            "with": {"summary": "Drilled", "root_cause": "a drill"},
        },
    ],
    "until": "1d1h",
}


@pytest.fixture(scope="module")
def drill_stack(tmp_path_factory):
    yield from running(ENV, tmp_path_factory.mktemp("drill-stack"))


def test_the_stack_says_its_clock_runs_faster(drill_stack):
    _, printed, _ = drill_stack
    assert f"the incidents' clock runs ×{SPEED_UP} while open, ×{AFTER} once resolved" in printed


def test_a_drill_on_the_stack_runs_on_the_incidents_clock_while_a_person_joins_live(drill_stack, tmp_path):
    """The scenario acknowledges 3 minutes late (a signed click in the sandbox Slack); nobody in it
    posts the §5.2 update: the IC joins live with `irp update` and keeps it. The card shows both,
    on the plan's clock, and the §8 deliverables nobody did are due and not done a day in."""
    scenario = tmp_path / "live.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    drill = subprocess.Popen(
        [sys.executable, "-m", "devstack.drill_run", str(scenario), "--stack"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed, incident = [], None
    deadline = time.monotonic() + 60
    while incident is None:
        line = drill.stdout.readline()
        assert line and time.monotonic() < deadline, "".join(printed)
        printed.append(line)
        if found := re.search(r"Join in live: `irp status (inc-[0-9a-f]+)`", line):
            incident = found.group(1)
    joined = run_irp(
        "update", incident, "--by", IC, "--status", "ONGOING", "--action", "Watching payments",
        "--know", "A drill", env=ENV,
    )  # fmt: skip
    assert joined.returncode == 0, joined.stdout + joined.stderr
    rest, _ = drill.communicate(timeout=240)
    printed.append(rest)
    out = "".join(printed)
    assert drill.returncode == 3, out  # promises missed (the acknowledgement) and §8 not done
    assert "on the incident's drill clock" in out and "drill-clock" in out
    card = json.loads(run_irp("compliance", incident, "--json", env=ENV).stdout)
    by_key = {p["key"]: p for p in card["promises"]}
    ack = by_key["acknowledge"]
    late = ack["late_by"]
    # 3 minutes late, plus the click's own latency ×60 (no upper bound: a busy machine's latency)
    assert ack["state"] == "missed" and seconds(late) >= 180, out
    assert abs(seconds(late) - (parse(ack["kept_at"]) - parse(ack["due_at"])).total_seconds()) < 1e-3
    assert by_key["update-1"]["state"] == "kept", by_key["update-1"]  # the person who joined live
    # §8: the report is due 24 h after resolution and nobody wrote it; the drill's card (as of its
    # clock's stop at T+1d 1h) says so, and who held it.
    (report,) = [line for line in out.splitlines() if line.startswith("⏳ §8 Incident report (internal)")]
    assert ", late by " in report and "Incident Commander (IC)" in report, report
    assert "Nobody did it before the clock stopped: §8 Incident report (internal)" in out


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def seconds(iso: str) -> float:
    """An ISO 8601 duration as pydantic writes a timedelta (PT3M5.2S, P1DT2H)."""
    days, _, clock = iso.removeprefix("P").partition("T")
    total = float(days.removesuffix("D") or 0) * 86400
    for amount, unit in re.findall(r"([\d.]+)([HMS])", clock):
        total += float(amount) * {"H": 3600, "M": 60, "S": 1}[unit]
    return total


def test_down_stops_the_drill_stack(drill_stack):
    proc, _, _ = drill_stack
    assert stack_command("down", ENV).wait(60) == 0
    assert proc.wait(60) == 0

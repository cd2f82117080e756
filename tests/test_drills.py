"""Drills on a compressed clock (issue 24, item 3): each shipped scenario (drills/*.yaml) drilled on
the time-skipping server by devstack/drill_runner.py — the real worker and receiver, the sandbox's
fakes, people acting in the sandbox Slack and through the CLI's path — and its compliance card
checked against the plan's numbers (config/preskool.yaml). The scenario files are checked as data:
a bad one is refused with the key's path."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cli.main import drill as cli_drill
from devstack.drill_run import main as drill_main
from devstack.drill_runner import run_drill
from devstack.drill_scenario import ScenarioError, load_scenario, shipped
from plan.models import Phase
from tests.fuzz import budget

MINUTE = timedelta(minutes=1)
# The clock the incident reads is the test server's: between the drill's jumps it runs at the wall
# clock's pace while a step is carried out. A promise's lateness is the scenario's step time minus
# the plan's window, plus that handling time; this is how much handling a check allows.
HANDLING = timedelta(seconds=30)


def step_at(scenario, do: str, who: str | None = None, n: int = 0) -> timedelta:
    return [s.at for s in scenario.steps if s.do == do and (who is None or s.who == who)][n]


def promise(result, key: str):
    return next(p for p in result.card.promises if p.key == key)


def about(actual: timedelta | None, expected: timedelta) -> bool:
    """`actual` is `expected`, give or take the time steps took to handle."""
    return actual is not None and abs(actual - expected) < HANDLING


# --- scenarios as data ---------------------------------------------------------------------------


def test_the_three_scenarios_the_issue_names_are_shipped_and_valid():
    assert shipped() == ["p0-login-outage", "p1-rollback", "private-data-at-risk"]
    for name in shipped():
        scenario = load_scenario(name)
        assert scenario.name == name and scenario.until >= timedelta(days=7)  # the whole §8 week


GOOD = """
title: t
alerts: [{labels: {alertname: A, severity: critical}}]
steps: [{at: 5m, who: oncall_primary, via: slack, do: acknowledge}]
until: 8d
"""


@pytest.mark.parametrize(
    "change, path",
    [
        (("until: 8d", "until: soon"), "until"),
        (("at: 5m", "at: 5 minutes"), "steps.0.at"),
        (("at: 5m", "at: -PT5M"), "steps.0.at"),  # before T+0
        (("who: oncall_primary", "who: janitor"), "steps.0"),
        (("do: acknowledge", "do: acknowlege"), "steps.0"),
        (("do: acknowledge", "do: mitigate"), "steps.0"),  # mitigate goes via cli, not slack
        (("via: slack", "via: email"), "steps.0.via"),
        (("labels: {alertname: A, severity: critical}", "labels: {severity: critical}"), "alerts.0"),
        (("title: t", "title: t\nspeed: 10"), "speed"),
        (("until: 8d", "until: 1m"), "(top)"),  # a step after the clock stops
        (("at: 5m,", "at: 5m, with: 3,"), "steps.0.with"),
    ],
)
def test_a_bad_scenario_is_refused_with_the_keys_path(tmp_path, change, path):
    old, new = change
    assert old in GOOD
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ScenarioError) as refused:
        load_scenario(bad)
    assert str(refused.value).startswith(f"{bad}: {path}: ") or f"; {path}: " in str(refused.value)


def test_the_good_example_loads_and_times_parse(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.replace("at: 5m", "at: 2h30m"))
    scenario = load_scenario(good)
    assert scenario.steps[0].at == timedelta(hours=2, minutes=30) and scenario.until == timedelta(days=8)


# Any change to a good scenario, at any key (a value of any YAML type, or the key gone), gives a
# scenario or a refusal naming the file and a key's path: never another error.
PATHS = [
    ("title",), ("until",), ("recovery",), ("speed",), ("alerts",), ("alerts", 0), ("alerts", 0, "at"),
    ("alerts", 0, "began"), ("alerts", 0, "labels"), ("alerts", 0, "labels", "alertname"),
    ("alerts", 0, "status"), ("steps",), ("steps", 0), ("steps", 0, "at"), ("steps", 0, "who"),
    ("steps", 0, "do"), ("steps", 0, "via"), ("steps", 0, "with"), ("steps", 0, "note"),
]  # fmt: skip
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["5m", "-5m", "PT5M", "-PT5M", "8d", "0s", "slack", "cli", "acknowledge", "P0"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


@budget(60)
@given(path=st.sampled_from(PATHS), value=YAML_VALUES, gone=st.booleans())
def test_any_change_to_a_scenario_loads_or_is_refused_with_a_path(tmp_path_factory, path, value, gone):
    raw = yaml.safe_load(GOOD)
    *parents, key = path
    place = raw
    for part in parents:
        place = place[part]
    if gone and (isinstance(place, list) or key in place):
        del place[key]
    elif not gone:
        place[key] = value
    file = tmp_path_factory.mktemp("scenario") / "changed.yaml"
    file.write_text(yaml.safe_dump(raw, allow_unicode=True))
    try:
        scenario = load_scenario(file)
    except ScenarioError as e:
        assert str(e).startswith(f"{file}: ")
        return
    assert scenario.until >= max([s.at for s in scenario.steps] + [a.at for a in scenario.alerts])


@pytest.mark.parametrize("text", ["not: [valid", "- a list", "", "1: one\ntitle: t"])
def test_a_file_that_is_no_scenario_is_refused_with_its_name(tmp_path, text):
    bad = tmp_path / "x.yaml"
    bad.write_text(text)
    with pytest.raises(ScenarioError, match=str(bad)):
        load_scenario(bad)


# --- drilled on the time-skipping server -----------------------------------------------------------


async def test_p0_login_outage_shows_the_late_acknowledgement_missed_by_3_minutes(time_env, policy):
    scenario = load_scenario("p0-login-outage")
    result = await run_drill(scenario, env=time_env, say=lambda _: None)
    card, windows = result.card, policy.phase_windows

    assert card.severity == "P0" and not card.private
    assert card.started_at == result.zero  # §4 counts from the alert's own startsAt
    ack = promise(result, "acknowledge")
    late = step_at(scenario, "acknowledge") - windows.DETECTION
    assert late == 3 * MINUTE  # acknowledged at 5 minutes; §4.1 says 2
    assert ack.state == "missed" and ack.due_at == card.started_at + windows.DETECTION
    assert about(ack.late_by, late)
    assert "missed by 3 min" in next(line for line in result.rendered.splitlines() if "§4.1" in line)
    assert any("in Slack: acknowledge" in line for line in result.steps)  # a signed click, attested
    assert result.status.acknowledged_by == "ben.okafor@preskool.com"

    for key in ("triage", "contain", "fix", "update-1", "status-page"):
        assert promise(result, key).state == "kept", key
    for key in ("customer_email", "incident_report", "postmortem_meeting", "action_items"):
        assert promise(result, key).state == "kept", key
    # Nobody updated the runbook: due 7 days after the resolution, not done when the clock stopped.
    runbook = promise(result, "runbook_update")
    assert runbook.kept_at is None and runbook.state != "kept"
    assert runbook.due_at == card.resolved_at + policy.deliverables["runbook_update"].sla
    assert about(runbook.late_by, scenario.until - (runbook.due_at - result.zero))
    # A click 7½ days after T+0 still counts: the receiver dates its attestation by the drill's
    # clock (a wall-clock date would be 7½ days old to the incident, past MAX_AGE, and refused).
    waived = next(d for d in result.status.deliverables if d.key == "public_postmortem")
    assert waived.state == "waived" and any("confirmed claim" in s for s in result.steps[-1:])


async def test_p1_rollback_waits_for_the_engineering_lead_and_the_late_update_is_missed(time_env, policy):
    scenario = load_scenario("p1-rollback")
    result = await run_drill(scenario, env=time_env, say=lambda _: None)
    card, status = result.card, result.status

    assert card.severity == "P1"
    rollback = next(r for r in status.requests if r.request_id == "rollback-1")
    assert rollback.state == "done" and [a.by for a in rollback.approvals] == ["dana.whitfield@preskool.com"]
    refused = [s for s in result.steps if "asha.rao@preskool.com via irp: approve" in s]
    assert refused and "refused" in refused[0] and "needs Engineering Lead" in refused[0]
    assert rollback.command[:2] == ["echo", "DRILL, nothing runs:"]  # a drill's executor only echoes

    # §5.2: P1's first update is due 30 minutes after the opening; it came at 40.
    update = promise(result, "update-1")
    cadence = policy.update_cadence["P1"]
    assert cadence == 30 * MINUTE and update.state == "missed"
    assert about(update.late_by, step_at(scenario, "post_update") - cadence)
    # §4.5: the first resolve was refused by the gate, the second verified.
    assert [g.passed for g in status.gate_runs] == [False, True]
    # §8: the post-mortem meeting 72 h after the resolution; it was held 2 h after that from T+0.
    meeting = promise(result, "postmortem_meeting")
    resolved = step_at(scenario, "resolve", n=1)
    sla = policy.deliverables["postmortem_meeting"].sla
    assert sla == timedelta(hours=72) and meeting.state == "missed"
    assert meeting.due_at == card.resolved_at + sla
    held = step_at(scenario, "complete_deliverable", n=2)
    assert about(meeting.late_by, held - resolved - sla) and held - resolved - sla == timedelta(
        hours=1, minutes=2
    )
    assert {p.key for p in card.missed} == {"update-1", "postmortem_meeting"}
    assert not [p for p in card.open if p.late_by]


async def test_private_data_at_risk_stays_private_and_shows_triage_and_report_missed(time_env, policy):
    scenario = load_scenario("private-data-at-risk")
    result = await run_drill(scenario, env=time_env, say=lambda _: None)
    card, status = result.card, result.status

    assert card.private and status.private and card.severity == "P0"
    assert "status-page" not in {p.key for p in card.promises}  # nothing public: no §5.3 promise
    purge = next(r for r in status.requests if r.request_id == "purge-cache")
    assert [a.by for a in purge.approvals] == ["grace.mensah@preskool.com"]  # the Database Lead
    # §4.2: the blast radius (triage done) came at 14 minutes; the window is 10.
    triage = promise(result, "triage")
    late = step_at(scenario, "declare_blast_radius") - policy.phase_windows.TRIAGE
    assert triage.state == "missed" and about(triage.late_by, late) and late == 4 * MINUTE
    # §5.2: the one update came at 12 minutes; the next fell due 15 later, and nobody posted it
    # before the resolution at 30.
    second = promise(result, "update-2")
    due = step_at(scenario, "post_update") + policy.update_cadence["P0"]
    assert second.state == "missed" and about(second.late_by, step_at(scenario, "resolve") - due)
    assert {p.key for p in card.missed} == {"triage", "update-2"}
    assert Phase.REVIEW in status.phases
    # Nobody wrote the incident report: 24 h after the resolution, not done when the clock stopped.
    report = promise(result, "incident_report")
    assert report.kept_at is None and report.state != "kept" and report.late_by > timedelta(days=6)


# --- the command line --------------------------------------------------------------------------------


def test_irp_drill_refuses_a_bad_file_with_its_path_from_anywhere(tmp_path, monkeypatch, capfd):
    (tmp_path / "mine.yaml").write_text(GOOD.replace("do: acknowledge", "do: resolve"))
    monkeypatch.chdir(tmp_path)  # not the checkout; the path is from where irp runs
    assert cli_drill(["mine.yaml"]) == 2  # the runner, from the checkout irp is installed from
    refused = capfd.readouterr().err
    assert refused.startswith(f"error: {tmp_path / 'mine.yaml'}: steps.0: ")
    assert "'resolve' goes `via: cli`" in refused


def test_drill_list_names_the_shipped_scenarios(capsys):
    assert drill_main(["--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == shipped()
    assert "P0 login outage" in listed[0]

"""plan/heartbeat.py: the dead man's switch's pure rules, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plan import AlertmanagerDelivery, load_policy
from plan.heartbeat import (
    HeartbeatState,
    Silence,
    back_text,
    deadline,
    heartbeat_id,
    is_beat,
    page_key,
    silence_text,
    silent,
    split_heartbeats,
)
from plan.models import HeartbeatPolicy, Role
from tests.payloads import alert, delivery

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def watchdog(status: str = "firing") -> dict:
    return alert(status, "An alert that should always be firing", alertname="Watchdog", severity="none")


def real(status: str = "firing") -> dict:
    return alert(status, module="fees", severity="critical")


@pytest.mark.parametrize(
    "alerts, beats, rest, rest_status",
    [
        ([watchdog()], 1, None, None),
        ([watchdog(), watchdog("resolved")], 2, None, None),
        ([real()], 0, 1, "firing"),
        ([watchdog(), real()], 1, 1, "firing"),
        ([watchdog(), real("resolved")], 1, 1, "resolved"),
        ([real(), watchdog(), real("resolved")], 1, 2, "firing"),
    ],
)
def test_split_heartbeats(alerts, beats, rest, rest_status):
    payload = AlertmanagerDelivery.model_validate(delivery(*alerts))
    found, others = split_heartbeats(payload, "Watchdog")
    assert len(found) == beats
    if rest is None:
        assert others is None
    else:
        assert len(others.alerts) == rest and others.status == rest_status
        assert all(a.labels["alertname"] != "Watchdog" for a in others.alerts)


def test_split_uses_the_given_name_exactly():
    payload = AlertmanagerDelivery.model_validate(delivery(watchdog()))
    assert split_heartbeats(payload, "DeadMansSwitch") == ([], payload)
    assert split_heartbeats(payload, "watchdog")[0] == []


@pytest.mark.parametrize(
    "statuses, beat",
    [(["firing"], True), (["resolved"], False), (["resolved", "firing"], True), ([], False)],
)
def test_only_a_firing_heartbeat_is_a_beat(statuses, beat):
    alerts = [AlertmanagerDelivery.model_validate(delivery(watchdog(s))).alerts[0] for s in statuses]
    assert is_beat(alerts) is beat


@pytest.mark.parametrize(
    "last_beat, now, is_silent",
    [
        (None, T0 + timedelta(minutes=9, seconds=59), False),
        (None, T0 + WINDOW, True),
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=14), False),
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=15), True),
        (T0 + timedelta(minutes=5), T0 + timedelta(hours=3), True),
    ],
)
def test_silent_once_a_window_passes_without_a_beat(last_beat, now, is_silent):
    state = HeartbeatState(started_at=T0, last_beat=last_beat)
    assert deadline(state, WINDOW) == (last_beat or T0) + WINDOW
    assert silent(state, WINDOW, now) is is_silent


def test_one_workflow_per_alertmanager_and_one_page_per_alarm():
    a, b = heartbeat_id("http://am-a:9093"), heartbeat_id("http://am-b:9093")
    assert a != b and a == heartbeat_id("http://am-a:9093") and a.startswith("heartbeat-")
    assert page_key(a, 1) != page_key(a, 2) and page_key(a, 1).startswith(a)


def test_texts_say_since_when_who_is_paged_and_that_it_is_back():
    policy = load_policy()
    alarm = Silence(number=1, since=T0, noticed_at=T0 + WINDOW, ended_at=T0 + timedelta(minutes=42))
    text = silence_text("http://am:9093", "Watchdog", alarm, policy.person(Role.oncall_primary))
    assert "silent since 2026-11-30 01:00:00 UTC" in text and "for 10 minutes" in text
    assert "<person:ben.okafor@preskool.com> is paged" in text
    assert "42 minutes of silence" in back_text("http://am:9093", "Watchdog", alarm)


def test_the_policy_defaults_and_refusals():
    policy = load_policy()
    assert policy.heartbeat == HeartbeatPolicy() and policy.alerts_channel == "preskool-alerts"
    assert policy.heartbeat.alert_name == "Watchdog" and policy.heartbeat.window == WINDOW
    for bad in ({"window": "PT0S"}, {"alert_name": ""}, {"page": "nobody"}, {"windows": "PT5M"}):
        with pytest.raises(ValueError):
            HeartbeatPolicy.model_validate(bad)

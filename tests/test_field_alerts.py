"""What real Alertmanagers send, through the webhook on the real dev server: a storm over 1 MiB,
a group that turns worse in a later delivery, a replica's stale firing after resolution, and
deliveries that reach us long after their alerts began."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone

from tests.helpers import finish, status_when
from tests.payloads import FIRING_ENDS_AT as FIRING_ZERO
from tests.payloads import alert, delivery
from tests.test_webhook import AUTH
from workflows import IncidentWorkflow

PRIMARY, IC = "ben.okafor@preskool.com", "asha.rao@preskool.com"


def group(*alerts: dict, name: str) -> dict:
    payload = delivery(*alerts, group=name)
    payload["groupKey"] += f":{os.urandom(4).hex()}"
    return payload


def pod_down(n: int) -> dict:
    a = alert(summary="Target down", alertname="TargetDown", severity="critical", pod=f"backend-{n:05d}")
    a["fingerprint"] = f"{n:016x}"
    a["annotations"]["description"] = "The scrape target is down. " * 20
    return a


async def test_an_alert_storm_over_one_mib_opens_the_incident_and_keeps_a_digest(
    dev_env, run_worker, receiver
):
    """2,000 pods down in one group (~1.5 MB): 202, one incident that says 2,000 firing, and a
    history that holds a bounded digest, not the body. The same group capped by max_alerts."""
    storm = group(*(pod_down(n) for n in range(2000)), name="TargetDown")
    body = json.dumps(storm).encode()
    assert len(body) > 1024 * 1024
    capped = {**storm, "alerts": storm["alerts"][:500], "truncatedAlerts": 1500}
    capped["groupKey"] += ":capped"
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        answer = await http.post(
            "/webhooks/alertmanager", content=body, headers={**AUTH, "content-type": "application/json"}
        )
        assert answer.status_code == 202, answer.text
        handle = dev_env.client.get_workflow_handle(answer.json()["incidents"][0]["incident_id"])
        status = await status_when(handle, lambda s: s.channel)
        truncated = (await http.post("/webhooks/alertmanager", json=capped, headers=AUTH)).json()[
            "incidents"
        ][0]
        capped_status = await status_when(
            dev_env.client.get_workflow_handle(truncated["incident_id"]), lambda s: s.channel
        )
        history = await handle.fetch_history()
        await finish(handle)
        await finish(dev_env.client.get_workflow_handle(truncated["incident_id"]))
    assert status.summary == "Target down (2,000 firing)" and status.severity == "P1"
    assert capped_status.summary == "Target down (2,000 firing, 1,500 of them truncated by Alertmanager)"
    size = sum(e.ByteSize() for e in history.events)
    assert size < len(body) / 5, f"history holds {size} bytes of a {len(body)}-byte delivery"


async def test_a_group_that_turns_worse_raises_the_severity(dev_env, run_worker, receiver, slack, pagerduty):
    """A warning on reports opens a P2; five minutes later the group carries a critical alert
    with data at risk: P0, announced with the reason, the IC, DB Lead and CTO paged, 15-min cadence."""
    warning = alert(summary="Reports slow", module="reports", severity="warning")
    first = group(warning, name="ReportsSlow")
    worse_alert = alert(
        summary="Report rows lost", module="reports", severity="critical", data_at_risk="true"
    )
    worse_alert["fingerprint"] = "0badc0ffee000001"
    worse = {**first, "alerts": [warning, worse_alert]}
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        opened = (await http.post("/webhooks/alertmanager", json=first, headers=AUTH)).json()["incidents"][0]
        assert opened["severity"] == "P2"
        handle = dev_env.client.get_workflow_handle(opened["incident_id"])
        await status_when(handle, lambda s: s.channel)
        await handle.signal("set_severity", {"severity": "P2", "by": IC, "reason": "reports only"})
        again = (await http.post("/webhooks/alertmanager", json=worse, headers=AUTH)).json()["incidents"][0]
        status = await status_when(
            handle,
            lambda s: (
                s.severity == "P0"
                and {"database_lead", "cto"} <= {p.role for p in s.paged if p.outcome == "paged"}
            ),
        )
        lower = (await http.post("/webhooks/alertmanager", json=first, headers=AUTH)).json()["incidents"][0]
        await finish(handle)
    assert again["incident_id"] == opened["incident_id"] and not again["created"]
    assert lower["severity"] == "P0", "a delivery never lowers severity by itself"
    said = [m["text"] for m in slack.messages(status.channel) if m["text"].startswith("⚠️ Severity P2 → P0")]
    assert len(said) == 1 and "above the P2 declared by asha.rao@preskool.com" in said[0], said
    assert "data at risk" in said[0]
    assert (
        status.cadence.next_due
        and (status.cadence.next_due - status.cadence.last_update_at).total_seconds() <= 900
    )


async def test_a_stale_firing_after_resolution_opens_nothing_and_a_new_one_does(
    dev_env, run_worker, receiver, slack, pagerduty, prometheus, policy
):
    """Two replicas retry out of order: firing (T0), resolved (T1), firing (T0) again. The stale
    firing is a timeline note only, even after the incident was resolved; a genuine re-fire
    (a later startsAt) still opens the next incident."""
    prometheus.healthy(policy)
    firing = group(alert(module="fees"), name="FeesDown")
    resolved = {**firing, "status": "resolved", "alerts": [alert(status="resolved", module="fees")]}
    refire_alert = {**alert(module="fees"), "startsAt": "2026-11-27T11:00:00Z"}
    refire = {**firing, "alerts": [refire_alert]}
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        first = (await http.post("/webhooks/alertmanager", json=firing, headers=AUTH)).json()["incidents"][0]
        handle = dev_env.client.get_workflow_handle(first["incident_id"])
        await status_when(handle, lambda s: s.channel)
        await http.post("/webhooks/alertmanager", json=resolved, headers=AUTH)
        stale = (await http.post("/webhooks/alertmanager", json=firing, headers=AUTH)).json()["incidents"][0]
        await handle.signal("resolve", {"by": IC, "summary": "Fixed the fee gateway"})
        await status_when(handle, lambda s: s.phase == "REVIEW")
        triggers = len(pagerduty.triggers())
        after = (await http.post("/webhooks/alertmanager", json=firing, headers=AUTH)).json()["incidents"][0]
        status = await handle.query(IncidentWorkflow.status)
        triggers_after_stale = len(pagerduty.triggers())
        new = (await http.post("/webhooks/alertmanager", json=refire, headers=AUTH)).json()["incidents"][0]
        status_new = await status_when(
            dev_env.client.get_workflow_handle(new["incident_id"]), lambda s: s.channel
        )
        await finish(handle)
        await finish(dev_env.client.get_workflow_handle(new["incident_id"]))
    assert stale["incident_id"] == after["incident_id"] == first["incident_id"] and not after["created"]
    assert [e.kind for e in status.timeline].count("stale") == 2
    assert not [m for m in slack.messages(status.channel) if "firing again" in m["text"]]
    assert triggers_after_stale == triggers, "a stale firing pages nobody"
    assert new["created"] and new["incident_id"] == first["incident_id"] + "-2"
    assert [t for t in pagerduty.triggers() if t["dedup_key"].startswith(status_new.outward_id + ":")]


def many_labels_group(name: str) -> tuple[dict, str]:
    """A route that groups by many labels, with UTF-8 values: its groupKey is over 4,096
    characters (`{}/{…}:{label="value", …}`, as Alertmanager builds it)."""
    labels = {"alertname": name, "module": "fees", "school": "école", "team": "team🙂"}
    labels |= {f"tenant_{i:03d}": f"école-{i:03d}-team🙂-{os.urandom(2).hex()}" for i in range(150)}
    firing = alert(summary="Fee payments failing for many schools", **labels)
    payload = delivery(firing, group=name)
    payload["groupLabels"] = labels
    pairs = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    payload["groupKey"] = '{}/{team=~".+"}:{' + pairs + "}"
    return payload, payload["groupKey"]


def escaped(text: str) -> bytes:
    """`text` as it appears inside a JSON payload of the history."""
    return json.dumps(text, ensure_ascii=False)[1:-1].encode()


async def test_a_group_key_over_4096_characters_opens_the_incident_and_the_next_delivery_joins_it(
    dev_env, run_worker, receiver
):
    """Issue 20: a 4,096+-character UTF-8 groupKey was refused (422), and Alertmanager never
    retries a 4xx. It opens the incident; the group's next deliveries (firing, then resolved) join
    it, keyed by a hash of the whole key; the history keeps the key clipped, never whole."""
    payload, group_key = many_labels_group("FeesDownEverywhere")
    assert len(group_key) > 4096 and "école" in group_key and "team🙂" in group_key
    resolved = {**payload, "status": "resolved", "alerts": [{**payload["alerts"][0], "status": "resolved"}]}
    resolved["alerts"][0]["endsAt"] = "2026-11-27T10:30:00Z"
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        first = await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
        assert first.status_code == 202, first.text
        [opened] = first.json()["incidents"]
        handle = dev_env.client.get_workflow_handle(opened["incident_id"])
        await status_when(handle, lambda s: s.channel)
        again = (await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)).json()["incidents"]
        late = (await http.post("/webhooks/alertmanager", json=resolved, headers=AUTH)).json()["incidents"]
        status = await status_when(handle, lambda s: s.deliveries == 3)
        history = await handle.fetch_history()
        await finish(handle)
    assert opened["created"] and opened["severity"] == "P1"
    assert [i["incident_id"] for i in again + late] == [opened["incident_id"]] * 2
    assert not again[0]["created"] and not late[0]["created"]
    assert status.summary.startswith("Fee payments failing for many schools")
    events = [e.SerializeToString() for e in history.events]
    assert any(escaped(group_key[:200]) in e for e in events), "the clipped key is kept, as shown"
    assert not any(escaped(group_key[-300:]) in e for e in events), "the whole key is never kept"


def said_windows(status) -> bool:
    """The opening and, after it, the one message about the §4 windows that had passed."""
    return any(e.text.startswith("posted the windows-passed") for e in status.timeline)


async def test_the_incident_starts_when_its_alerts_began_in_utc(dev_env, run_worker, receiver, slack):
    """Two deliveries as the field writes them, each long after its alert began: startsAt 40 min
    before with +08:00, and 25 min before with nanoseconds and -02:00. Each incident starts when
    its alert began, in UTC, with the receipt beside it; the §5.1 opening says both; the §4
    windows that had passed are said once; nobody is escalated at once (that counts from the page)."""
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        now = datetime.now(UTC).replace(microsecond=0)  # just before sending: the lateness is the alerts'
        # The west alert's startsAt carries .16095407 s: began a second earlier, it is still 25 whole
        # minutes late when the delivery lands in the first 0.16 s of a second (a flake before).
        began_east, began_west = now - timedelta(minutes=40), now - timedelta(minutes=25, seconds=1)
        east = alert(module="fees", summary="Fee collection failing")
        east.update(
            startsAt=began_east.astimezone(timezone(timedelta(hours=8))).isoformat(), endsAt=FIRING_ZERO
        )
        west = alert(module="attendance", summary="Attendance marking failing")
        west_local = began_west.astimezone(timezone(timedelta(hours=-2)))
        west.update(startsAt=f"{west_local:%Y-%m-%dT%H:%M:%S}.16095407-02:00", endsAt=FIRING_ZERO)
        assert east["startsAt"].endswith("+08:00")
        answers = [
            (await http.post("/webhooks/alertmanager", json=group(a, name=n), headers=AUTH)).json()
            for a, n in ((east, "FeesLate"), (west, "AttendanceLate"))
        ]
        handles = [dev_env.client.get_workflow_handle(a["incidents"][0]["incident_id"]) for a in answers]
        statuses = [await status_when(h, said_windows) for h in handles]
        for h in handles:
            await finish(h)
    expected = [began_east, began_west.replace(microsecond=160954)]
    for status, began, late in zip(statuses, expected, (40, 25), strict=True):
        assert status.started_at == began and status.started_at.utcoffset() == timedelta(0)
        assert status.received_at >= now and status.received_at - status.started_at >= timedelta(minutes=late)
        opening = next(m["text"] for m in slack.messages(status.channel) if "INCIDENT OPENED" in m["text"])
        heard = f"received {status.received_at:%H:%M} UTC, {late} min later"
        assert f"Started At: {began:%Y-%m-%d %H:%M} UTC ({heard})" in opening.splitlines(), opening
        passed = [m["text"] for m in slack.messages(status.channel) if m["text"].startswith("⏱")]
        assert len(passed) == 1 and f"This alert reached us {late} min after the problem began" in passed[0]
        assert not [p for p in status.paged if p.role == "oncall_secondary"], "escalated before 2 min"
    assert "DETECTION (2 min), TRIAGE (10 min) and CONTAIN (30 min) windows" in passed_text(
        slack, statuses[0]
    )
    assert "DETECTION (2 min) and TRIAGE (10 min) windows" in passed_text(slack, statuses[1])
    assert [e.text for e in statuses[0].timeline if e.kind == "start"] == [
        f"the problem began {began_east:%Y-%m-%d %H:%M:%S} UTC (the earliest startsAt of its firing alerts), "
        f"40 min before we received it ({statuses[0].received_at:%Y-%m-%d %H:%M:%S} UTC)"
    ]


def passed_text(slack, status) -> str:
    return next(m["text"] for m in slack.messages(status.channel) if m["text"].startswith("⏱"))


async def test_a_declared_start_is_the_incidents_start(dev_env, run_worker, receiver, slack):
    """A person declares a problem that began 40 min ago, in their own offset: the incident starts
    then, in UTC; one with no offset is refused with the reason (a time zone is never guessed)."""
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        began = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
        body = {
            "summary": "Schools report fee payments failing since lunch",
            "reporter": "support@preskool.com",
            "severity": "P1",
            "started_at": began.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        }
        naive = await http.post(
            "/incidents", json={**body, "started_at": f"{began:%Y-%m-%dT%H:%M:%S}"}, headers=AUTH
        )
        answer = await http.post("/incidents", json=body, headers=AUTH)
        handle = dev_env.client.get_workflow_handle(answer.json()["incidents"][0]["incident_id"])
        status = await status_when(handle, said_windows)
        await finish(handle)
    assert naive.status_code == 422 and "timezone" in naive.text, naive.text
    assert status.started_at == began and status.received_at - began >= timedelta(minutes=40)
    assert "This incident was declared 40 min after the problem began" in passed_text(slack, status)
    assert any(
        e.kind == "start" and "(as declared by support@preskool.com)" in e.text for e in status.timeline
    )

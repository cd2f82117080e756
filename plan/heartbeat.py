"""The dead man's switch on the alerting pipeline, as pure rules (docs/integrations.md, "The dead
man's switch").

The kube-prometheus stack keeps an always-firing alert (`Watchdog`) so that a receiver can tell
when Prometheus or Alertmanager goes silent. Such an alert is never an incident: each delivery of
it is a beat, and a window with no beat is a silence, told to the on-call primary and the alerts
channel. A heartbeat watches one alerting pipeline, named by the heartbeat alert's labels (which
every Alertmanager peer of an HA cluster sends alike), never by the peer that happens to send.
No I/O and no clock here: the heartbeat workflow (workflows/heartbeat.py) decides when."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel

from plan.alerts import Alert, AlertmanagerDelivery, clip
from plan.models import Person, Policy, Role
from plan.templates import mention


def heartbeat_id(external_url: str) -> str:
    """The id heartbeats had up to v2.0, one per sender's `externalURL`: `heartbeat-<12 hex>`. No
    new heartbeat gets one; one still running is retired by the first beat its sender sends to
    its pipeline's heartbeat (incident_client/intake.py)."""
    return "heartbeat-" + hashlib.sha256(external_url.encode()).hexdigest()[:12]


# Labels an HA Prometheus pair sets apart per replica (Prometheus Operator's `prometheus_replica`,
# Thanos's `replica`, Cortex/Mimir's `__replica__`): the same pipeline whichever replica fired.
REPLICA_LABELS = frozenset({"prometheus_replica", "replica", "__replica__"})


SHOWN_LABELS, LABEL_NAME, LABEL_VALUE = 30, 100, 300  # the labels a heartbeat keeps: ≤ 12 KB


def _named(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(labels.items()) if k not in REPLICA_LABELS}


def pipeline_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels naming an alerting pipeline, as a heartbeat keeps and shows them: the heartbeat
    alert's own labels (alertname plus Prometheus's external labels such as `prometheus` or
    `cluster`), sorted, replica labels left out, at most SHOWN_LABELS of them with names and values
    clipped (any size of label set stays a small beat). Every Alertmanager peer sends them alike
    (Alertmanager's `fingerprint` hashes the same set); the peer's `externalURL` is not among them."""
    kept = list(_named(labels).items())[:SHOWN_LABELS]
    return {clip(k, LABEL_NAME): clip(v, LABEL_VALUE) for k, v in kept}


def pipeline_id(labels: dict[str, str]) -> str:
    """One heartbeat per alerting pipeline, whichever peer sends: `heartbeat-p-<12 hex>` of its
    whole label set (replica labels left out): any peer, or a sender re-created under a new URL,
    beats the same heartbeat."""
    canonical = json.dumps(_named(labels), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(b"pipeline\x00" + canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return "heartbeat-p-" + digest[:12]


def pipelines(alerts: list[Alert]) -> dict[str, dict[str, str]]:
    """The pipelines a delivery's firing heartbeat alerts beat: {pipeline_id: pipeline_labels}, in
    the order first seen. A resolved heartbeat alert beats nothing (see is_beat)."""
    found: dict[str, dict[str, str]] = {}
    for a in alerts:
        if a.status == "firing":
            found.setdefault(pipeline_id(a.labels), pipeline_labels(a.labels))
    return found


def split_heartbeats(
    delivery: AlertmanagerDelivery, alert_name: str
) -> tuple[list[Alert], AlertmanagerDelivery | None]:
    """(the delivery's alerts named `alert_name`, the other alerts as a delivery of their own, or
    None when there are none). A delivery mixing the two still opens its incident for the rest."""
    beats = [a for a in delivery.alerts if a.labels.get("alertname") == alert_name]
    if not beats:
        return [], delivery
    rest = [a for a in delivery.alerts if a.labels.get("alertname") != alert_name]
    if not rest:
        return beats, None
    status = "firing" if any(a.status == "firing" for a in rest) else "resolved"
    return beats, delivery.model_copy(update={"alerts": rest, "status": status})


def is_beat(alerts: list[Alert]) -> bool:
    """Only a firing heartbeat alert is a sign of life. A "resolved" one is what Alertmanager sends
    when Prometheus stopped sending it: no beat (the window then runs out)."""
    return any(a.status == "firing" for a in alerts)


class Beat(BaseModel):
    """One delivery of the heartbeat alert, as the receiver sends it to the heartbeat workflow."""

    alertmanager: str  # the sending peer's externalURL, as shown
    alert_name: str
    pipeline: dict[str, str] = {}  # pipeline_labels of the alert (empty from a v2.0 receiver)


class Retirement(BaseModel):
    """Retiring a heartbeat whose pipeline is gone for good (`irp heartbeat retire`), or one keyed
    by a sender's URL that its pipeline's heartbeat supersedes (`superseded_by`)."""

    by: str
    reason: str
    superseded_by: str | None = None


class BeatReceipt(BaseModel):
    """The heartbeat's answer to a beat: how many it has had, and whether this one ended an alarm."""

    heartbeat_id: str
    beats: int
    ended_silence: bool = False


class Silence(BaseModel):
    """One alarm: the pipeline silent since `since` (the last beat), noticed at `noticed_at`."""

    number: int
    since: datetime
    noticed_at: datetime
    role: Role = Role.oncall_primary  # whom it paged: resolved the same way, whatever the policy says later
    paged: bool = False
    detail: str = ""
    ended_at: datetime | None = None


class HeartbeatState(BaseModel):
    """What a heartbeat carries across continue-as-new: absolute times only (timers do not carry)."""

    started_at: datetime
    last_beat: datetime | None = None
    beats: int = 0
    beats_this_run: int = 0
    alert_name: str = ""  # the name the receiver last sent
    silences: int = 0
    alarm: Silence | None = None
    ended: list[Silence] = []  # the latest few, newest last
    runs: int = 1
    moved_from: str | None = None  # the build its last move to a newer one started from
    senders: dict[str, datetime] = {}  # each peer's last beat (the latest few): who keeps it alive
    retired: Retirement | None = None


KEEP_SENDERS = 20


def record_beat(state: HeartbeatState, sender: str, alert_name: str, at: datetime) -> None:
    """A beat at `at` from the peer `sender`: any peer's beat re-arms the one window."""
    state.beats += 1
    state.beats_this_run += 1
    state.last_beat = at
    state.alert_name = alert_name
    senders = {k: v for k, v in state.senders.items() if k != sender}
    state.senders = dict(list(senders.items())[-(KEEP_SENDERS - 1) :]) | {sender: at}


KEEP_ENDED = 20
BEATS_PER_RUN = 500  # about 3,500 events: continue-as-new before Temporal's suggestion at ~4,096


class HeartbeatInput(BaseModel):
    """A heartbeat's start, or its next run (`state` carried over). Each run pins the worker's
    policy when it starts (`policy` None), so a changed policy applies from the next run."""

    heartbeat_id: str
    alertmanager: str
    policy: Policy | None = None
    state: HeartbeatState | None = None
    beats_per_run: int = BEATS_PER_RUN
    pipeline: dict[str, str] | None = None  # None: a v2.0 heartbeat, keyed by `alertmanager`


class HeartbeatStatus(BaseModel):
    """The heartbeat's query answer: its Alertmanager, the pinned rule, and its state."""

    heartbeat_id: str
    alertmanager: str
    alert_name: str | None
    window: timedelta | None
    state: HeartbeatState
    warning: str | None = None
    pipeline: dict[str, str] | None = None


def deadline(state: HeartbeatState, window: timedelta) -> datetime:
    """When the pipeline counts as silent: a window after the last beat (or the start)."""
    return (state.last_beat or state.started_at) + window


def silent(state: HeartbeatState, window: timedelta, now: datetime) -> bool:
    """True once the window has passed with no beat."""
    return now >= deadline(state, window)


def page_key(heartbeat: str, number: int) -> str:
    """One PagerDuty dedup key per alarm: retries never page twice, and `resolve` ends that page."""
    return f"{heartbeat}-silence-{number}"


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _minutes(span: timedelta) -> int:
    return max(int(span.total_seconds() // 60), 0)


def silence_text(alertmanager: str, alert_name: str, alarm: Silence, paged: Person | None) -> str:
    """The alerts channel's post when the window runs out, naming whom it pages."""
    who = f" {mention(paged)} is paged." if paged else ""
    return (
        f"🚨 The alerting pipeline has been silent since {_utc(alarm.since)}: no `{alert_name}` from "
        f"Alertmanager {alertmanager or '(no externalURL)'} for "
        f"{_minutes(alarm.noticed_at - alarm.since)} minutes. Prometheus or Alertmanager may be down, "
        f"so alerts may not reach anyone.{who}"
    )


def back_text(alertmanager: str, alert_name: str, alarm: Silence) -> str:
    """The alerts channel's post when the next beat ends the alarm."""
    ended = alarm.ended_at or alarm.noticed_at
    return (
        f"✅ The alerting pipeline is back: `{alert_name}` from Alertmanager "
        f"{alertmanager or '(no externalURL)'} arrived at {_utc(ended)}, after "
        f"{_minutes(ended - alarm.since)} minutes of silence. The page is resolved."
    )


def page_summary(alertmanager: str, alert_name: str, alarm: Silence) -> str:
    """The PagerDuty summary of the alarm."""
    return f"Alerting pipeline silent since {_utc(alarm.since)}: no {alert_name} from {alertmanager}"[:1000]


def retired_text(heartbeat: str, pipeline: dict[str, str] | None, retirement: Retirement, alarm: bool) -> str:
    """The alerts channel's one notice that a heartbeat ended for good (and its page is resolved)."""
    what = ", ".join(f"{k}={v}" for k, v in (pipeline or {}).items()) or heartbeat
    why = (
        f"superseded by {retirement.superseded_by}, which every Alertmanager peer's beats now reach"
        if retirement.superseded_by
        else f"retired by {retirement.by}: {retirement.reason}"
    )
    return f"🪦 The dead man's switch {heartbeat} ({what}) has ended: {why}." + (
        " Its open page is resolved." if alarm else ""
    )


def route_beats(
    beats: Iterable[tuple[datetime, str, dict[str, str]]],
) -> dict[str, list[tuple[datetime, str]]]:
    """(time, sender, alert labels) beats as intake routes them: {heartbeat id: [(time, sender)]}."""
    routed: dict[str, list[tuple[datetime, str]]] = {}
    for at, sender, labels in beats:
        routed.setdefault(pipeline_id(labels), []).append((at, sender))
    return routed


def silences_over(
    started_at: datetime, beats: list[tuple[datetime, str]], window: timedelta, until: datetime
) -> list[Silence]:
    """The alarms one heartbeat sounds from `started_at` to `until` given its (time, sender) beats,
    as the workflow decides them: silent once a window passes with no beat from any peer; the next
    beat ends the alarm."""
    state, found = HeartbeatState(started_at=started_at), []
    for at, sender in sorted(beats, key=lambda b: b[0]):
        if at > until:
            break
        if silent(state, window, at):
            found.append(
                Silence(
                    number=len(found) + 1,
                    since=deadline(state, window) - window,
                    noticed_at=deadline(state, window),
                    ended_at=at,
                )
            )
        record_beat(state, sender, "", at)
    if silent(state, window, until):
        found.append(
            Silence(
                number=len(found) + 1,
                since=deadline(state, window) - window,
                noticed_at=deadline(state, window),
            )
        )
    return found

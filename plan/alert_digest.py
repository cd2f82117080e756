"""What an incident keeps of an Alertmanager delivery: a bounded digest, never the whole body.

A cluster-wide outage can put 2,000 alerts (1.5 MB) in one group's delivery, and Alertmanager
re-sends the group every group_interval. History and state hold, per delivery: the counts
(`truncatedAlerts` included), the first alerts, every distinct set of the labels §6 reads (so
severity is re-walked over the whole group), and each alert's fingerprint with its startsAt and
endsAt (so the group's truth is per alert, not per delivery order). Pure."""

from __future__ import annotations

import hashlib
import json
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel

from plan.alerts import Alert, AlertmanagerDelivery

# The labels the §6 tree reads (plan/severity.py), and the alert's name for its reasons.
SEVERITY_LABELS = ("irp_severity", "scope", "data_at_risk", "module", "severity", "workaround", "alertname")
SAMPLE = 10  # alerts kept whole (annotations clipped) for people to read
DISTINCT = 1_000  # distinct §6 label sets kept (see _label_sets for what is kept past it)
OVERRIDING = {"irp_severity", "scope", "data_at_risk"}
TRACKED = 5_000  # alerts whose fingerprints are kept per delivery (about 35 bytes each)
TEXT = 2_000  # characters of any one text kept (summary, impact, an annotation)


def clip(text: str, limit: int = TEXT, whole: str = "") -> str:
    """`text`, cut to `limit` characters with a visible note of what was cut (and of where the
    `whole` text is, when that is known)."""
    if len(text) <= limit:
        return text
    where = f"; the whole text: {whole}" if whole else ""
    return text[:limit] + f"… (truncated, {len(text) - limit:,} more characters{where})"


def alertmanager_link(delivery: AlertmanagerDelivery) -> str:
    """The group's first alert in Alertmanager's UI, where its full annotations stay readable
    while it fires ("" when the delivery names no externalURL)."""
    if not delivery.externalURL.startswith(("http://", "https://")):
        return ""
    name = (delivery.firing or delivery.alerts)[0].name
    query = quote(f'{{alertname="{name[:200]}"}}', safe="")
    return f"{delivery.externalURL.rstrip('/')[:500]}/#/alerts?filter={query}"


class LabelSet(BaseModel):
    """The §6 labels of `count` alerts of the delivery that share them (plan.severity reads
    `status`, `labels` and `name`, as of an Alert)."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    count: int = 1

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")


class AlertDigest(BaseModel):
    """An Alertmanager delivery as the incident keeps it (see the module's docstring)."""

    groupKey: str
    status: Literal["firing", "resolved"]
    firing: int
    resolved: int
    truncated: int = 0
    summary: str
    impact: str = ""
    source: str = "alertmanager"
    runbook: str | None = None
    sample: list[Alert] = []
    label_sets: list[LabelSet] = []
    firing_since: dict[str, float] = {}  # fingerprint → startsAt (Unix seconds) of each firing alert
    ended: dict[str, float] = {}  # fingerprint → endsAt (Unix seconds) of each resolved alert
    untracked: int = 0  # alerts beyond TRACKED, counted but not fingerprinted

    def stale(self, ended: dict[str, float]) -> bool:
        """Every firing alert here was already seen resolved at or after it started: a replica's
        late retry of an old firing, not news (an alert that fires again starts later)."""
        return bool(self.firing_since) and all(
            fp in ended and ended[fp] >= since for fp, since in self.firing_since.items()
        )

    @property
    def firing_in_group(self) -> int:
        """Firing alerts of the group, those Alertmanager truncated (max_alerts) included."""
        return self.firing + (self.truncated if self.status == "firing" else 0)


def digest(delivery: AlertmanagerDelivery) -> AlertDigest:
    """The bounded digest of `delivery`."""
    alerts = delivery.firing + [a for a in delivery.alerts if a.status == "resolved"]
    firing = len(delivery.firing)
    return AlertDigest(
        groupKey=delivery.groupKey,
        status=delivery.status,
        firing=firing,
        resolved=len(alerts) - firing,
        truncated=delivery.truncatedAlerts,
        summary=clip(_summary(delivery), whole=alertmanager_link(delivery)),
        impact=clip(delivery.impact, whole=alertmanager_link(delivery)),
        source=clip(delivery.source, 200),
        runbook=_runbook(alerts),
        sample=[_clipped(a, alertmanager_link(delivery)) for a in alerts[:SAMPLE]],
        label_sets=_label_sets(alerts),
        firing_since={
            fingerprint(a): a.startsAt.timestamp() for a in alerts[:TRACKED] if a.status == "firing"
        },
        ended={
            fingerprint(a): a.endsAt.timestamp()
            for a in alerts[:TRACKED]
            if a.status == "resolved" and a.endsAt and a.endsAt.year > 1
        },
        untracked=max(len(alerts) - TRACKED, 0),
    )


def _summary(delivery: AlertmanagerDelivery) -> str:
    """One line: the group's common summary, else its first firing alert's, and how many fire."""
    first = (delivery.firing or delivery.alerts)[0]
    text = delivery.commonAnnotations.get("summary") or first.summary
    truncated, firing = delivery.truncatedAlerts, len(delivery.firing)
    if truncated and delivery.status == "firing":
        return f"{text} ({firing + truncated:,} firing, {truncated:,} of them truncated by Alertmanager)"
    return text if len(delivery.alerts) == 1 else f"{text} ({firing:,} firing)"


def _runbook(alerts: list[Alert]) -> str | None:
    url = next((a.annotations["runbook_url"] for a in alerts if "runbook_url" in a.annotations), None)
    return clip(url, 500) if url else None


def _clipped(alert: Alert, whole: str) -> Alert:
    return alert.model_copy(
        update={
            "annotations": {k: clip(v, 500, whole) for k, v in alert.annotations.items()},
            "labels": {k: clip(v, 200) for k, v in alert.labels.items()},
        }
    )


def _label_sets(alerts: list[Alert]) -> list[LabelSet]:
    """Distinct (status, §6 labels), in order, each with its count (the alert name is the
    first's). Past DISTINCT sets only those that can make a P0 whatever the policy says (an
    irp_severity override, scope=all, data at risk) are still kept: a bound never hides them."""
    counts: dict[str, LabelSet] = {}
    for alert in alerts:
        labels = {k: alert.labels[k][:200] for k in SEVERITY_LABELS if k in alert.labels}
        key = json.dumps(
            [alert.status, {k: v for k, v in labels.items() if k != "alertname"}], sort_keys=True
        )
        if key in counts:
            counts[key].count += 1
        elif len(counts) < DISTINCT or (alert.status == "firing" and OVERRIDING & labels.keys()):
            counts[key] = LabelSet(status=alert.status, labels=labels)
    return list(counts.values())


def fingerprint(alert: Alert) -> str:
    """Alertmanager names each alert by its fingerprint; without one, by its sorted labels."""
    return (
        alert.fingerprint[:64]
        or hashlib.sha256(json.dumps(alert.labels, sort_keys=True).encode()).hexdigest()[:16]
    )

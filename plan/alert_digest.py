"""What an incident keeps of an Alertmanager delivery: a bounded digest, never the whole body.

A cluster-wide outage can put 2,000 alerts (1.5 MB) in one group's delivery, and Alertmanager
re-sends the group every group_interval. History and state hold, per delivery: the counts
(`truncatedAlerts` included), the first alerts, every distinct set of the labels §6 reads (so
severity is re-walked over the whole group), and each alert's fingerprint with its startsAt and
endsAt (so the group's truth is per alert, not per delivery order). Whatever the delivery, the
digest stays under MAX_BYTES of JSON, inside what the incident takes as one update's input
(plan/person_input.py MAX_UPDATE_BYTES: a larger one would be refused, and the incident never open):
texts are clipped, the sample and the label sets have byte budgets, and the groupKey (64 KiB and
more for a route that groups by many labels) is kept clipped, as shown; the incident's identity
is a hash of the whole key (incident_client/intake.py). Pure."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel

from plan.alerts import Alert, AlertmanagerDelivery, clip  # clip: imported from here by others
from plan.models import Severity
from plan.person_input import MAX_UPDATE_BYTES

# The labels the §6 tree reads (plan/severity.py), and the alert's name for its reasons.
SEVERITY_LABELS = ("irp_severity", "scope", "data_at_risk", "module", "severity", "workaround", "alertname")
SAMPLE = 10  # alerts kept for people to read (labels and annotations clipped) ...
SAMPLE_BYTES = 64 * 1024  # ... while they fit in this (the first one always: at most ~80 KB)
LABELS, ANNOTATIONS = 20, 5  # labels (§6 ones first) and annotations kept per sampled alert ...
NAME = 100  # ... with names clipped to this many characters
DISTINCT = 1_000  # distinct §6 label sets kept ...
LABEL_SET_BYTES = 128 * 1024  # ... while they fit in this (see _label_sets for what is kept past it)
LABEL_VALUE = 64  # characters of a §6 label's value kept in a label set (policy values are short)
TRACKED = 5_000  # alerts whose fingerprints are kept per delivery (at most ~45 bytes each)
TEXT = 2_000  # characters of any one text kept (summary, impact, an annotation)
GROUP_KEY = 1_000  # characters of the groupKey kept, as shown
URL = 2_000  # a longer generatorURL is dropped from the sample (a cut link leads nowhere)
# The digest's JSON, whatever the delivery (about 450 KB at the very worst: 6-byte escapes in
# every text, all budgets full): inside what the incident takes as an update's input.
MAX_BYTES = MAX_UPDATE_BYTES - 32 * 1024
ALERTMANAGER_FINGERPRINT = re.compile(r"[0-9A-Za-z]{1,16}")


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
        groupKey=clip(delivery.groupKey, GROUP_KEY),
        status=delivery.status,
        firing=firing,
        resolved=len(alerts) - firing,
        truncated=delivery.truncatedAlerts,
        summary=clip(_summary(delivery), whole=alertmanager_link(delivery)),
        impact=clip(delivery.impact, whole=alertmanager_link(delivery)),
        source=clip(delivery.source, 200),
        runbook=_runbook(alerts),
        sample=_sample(alerts, alertmanager_link(delivery)),
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


def _sample(alerts: list[Alert], whole: str) -> list[Alert]:
    """The first SAMPLE alerts, clipped, as many as fit in SAMPLE_BYTES (the first always)."""
    sample, size = [], 0
    for alert in alerts[:SAMPLE]:
        clipped = _clipped(alert, whole)
        size += len(clipped.model_dump_json().encode())
        if sample and size > SAMPLE_BYTES:
            break
        sample.append(clipped)
    return sample


def _clipped(alert: Alert, whole: str) -> Alert:
    """`alert` bounded for people to read: its §6 labels first, names and values clipped."""
    names = [k for k in SEVERITY_LABELS if k in alert.labels]
    names += [k for k in alert.labels if k not in SEVERITY_LABELS]
    return alert.model_copy(
        update={
            "annotations": {
                k[:NAME]: clip(v, 500, whole) for k, v in list(alert.annotations.items())[:ANNOTATIONS]
            },
            "labels": {k[:NAME]: clip(alert.labels[k], 200) for k in names[:LABELS]},
            "generatorURL": alert.generatorURL if len(alert.generatorURL) <= URL else "",
            "fingerprint": fingerprint(alert),
        }
    )


def _label_sets(alerts: list[Alert]) -> list[LabelSet]:
    """Distinct (status, §6 labels), in order, each with its count (the alert name is the
    first's). Past DISTINCT sets or LABEL_SET_BYTES, a set is kept only if it can make a P0 or
    override whatever the policy says (an irp_severity override, scope=all, data at risk), one per
    kind of override (_override): a bound never hides them, and never grows past about 20 sets."""
    counts: dict[str, LabelSet] = {}
    size = 0
    for alert in alerts:
        labels = {k: alert.labels[k][:LABEL_VALUE] for k in SEVERITY_LABELS if k in alert.labels}
        key = json.dumps(
            [alert.status, {k: v for k, v in labels.items() if k != "alertname"}], sort_keys=True
        )
        if key not in counts and (len(counts) >= DISTINCT or size + len(key.encode()) > LABEL_SET_BYTES):
            override = _override(alert.status, labels)
            key = json.dumps(override) if override else ""
        if key in counts:
            counts[key].count += 1
        elif key:
            counts[key] = LabelSet(status=alert.status, labels=labels)
            size += len(key.encode())
    return list(counts.values())


def _override(status: str, labels: dict[str, str]) -> list | None:
    """The kind of override a firing alert's labels make whatever the policy says (§6: a
    person's irp_severity, scope=all, data at risk), or None: alerts of one kind classify alike."""
    severity = labels.get("irp_severity", "").upper()
    kind = [
        severity if severity in Severity.__members__ else "",
        labels.get("scope", "").lower() == "all",
        labels.get("data_at_risk", "").lower() == "true",
    ]
    return ["override", *kind] if status == "firing" and any(kind) else None


def fingerprint(alert: Alert) -> str:
    """Alertmanager names each alert by its fingerprint (16 hex digits); any other stands as a
    16-digit hash of itself, and a missing one as a hash of the sorted labels."""
    given = alert.fingerprint
    if ALERTMANAGER_FINGERPRINT.fullmatch(given):
        return given
    named = given or json.dumps(alert.labels, sort_keys=True)
    return hashlib.sha256(named.encode("utf-8", "surrogatepass")).hexdigest()[:16]

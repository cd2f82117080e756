"""Realistic Alertmanager webhook payloads (version 4), as its webhook_configs sends them."""

from __future__ import annotations

import copy
import json
from datetime import datetime

from hypothesis import strategies as st

FIRING_ENDS_AT = "0001-01-01T00:00:00Z"


def alert(status: str = "firing", summary: str = "API returning 500s for all requests", **labels) -> dict:
    labels = {"alertname": "ApiErrorsAllRequests", "job": "backend", "namespace": "preskool", **labels}
    return {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "runbook_url": "observability/runbooks/incident-response.md#api-5xx",
        },
        "startsAt": "2026-11-27T09:58:00Z",
        "endsAt": FIRING_ENDS_AT if status == "firing" else "2026-11-27T10:30:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate(http_requests_total)",
        "fingerprint": "c8b7f1e2d3a4b5c6",
    }


def delivery(*alerts: dict, group: str = "ApiErrorsAllRequests", status: str | None = None) -> dict:
    alerts = alerts or (alert(),)
    firing = any(a["status"] == "firing" for a in alerts)
    return copy.deepcopy(
        {
            "version": "4",
            "groupKey": f'{{}}/{{severity=~"critical|warning"}}:{{alertname="{group}"}}',
            "truncatedAlerts": 0,
            "status": status or ("firing" if firing else "resolved"),
            "receiver": "preskool-irp",
            "groupLabels": {"alertname": group},
            "commonLabels": dict(alerts[0]["labels"]),
            "commonAnnotations": {"summary": alerts[0]["annotations"]["summary"]},
            "externalURL": "http://alertmanager:9093",
            "alerts": list(alerts),
        }
    )


# --- Hypothesis: genuine payloads, as Alertmanager and people send them (tests/test_receiver_fuzz.py) ----

PROMETHEUS_NAME = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,30}", fullmatch=True)
NAMES = st.one_of(PROMETHEUS_NAME, st.text(min_size=1, max_size=30))  # UTF-8 names: Alertmanager 0.28
VALUES = st.one_of(
    st.text(max_size=30),  # any UTF-8, the empty string and NUL included
    st.sampled_from(["école", "team🙂", "fees", "critical", "warning", "all", "true", "P0", "p1"]),
    st.text(min_size=200, max_size=3000),
)
# The labels §6 reads, with the values that change a decision (plan/severity.py).
SIX = st.fixed_dictionaries(
    {},
    optional={
        "severity": st.sampled_from(["critical", "warning", "info", "none"]),
        "module": st.sampled_from(["fees", "attendance", "auth", "reports", "école", "team🙂"]),
        "scope": st.sampled_from(["all", "some", "ALL"]),
        "data_at_risk": st.sampled_from(["true", "false", "TRUE"]),
        "irp_severity": st.sampled_from(["P0", "P1", "p2", "P3", "P9", ""]),
        "workaround": st.sampled_from(["false", "true"]),
    },
)


@st.composite
def go_times(draw) -> str:
    """A time as Go's RFC 3339 marshalling writes it: 0-9 fraction digits, `Z` or an offset."""
    when = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)))
    digits = draw(st.integers(0, 9))
    fraction = f".{draw(st.integers(0, 10**digits - 1)):0{digits}d}" if digits else ""
    minutes = draw(st.one_of(st.just(None), st.integers(-14 * 60, 14 * 60)))
    offset = (
        "Z"
        if minutes is None
        else f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    )
    return when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + offset


@st.composite
def am_alerts(draw, common: dict[str, str], n: int) -> dict:
    """One alert of a group whose labels include `common` (the group's labels)."""
    labels = draw(st.dictionaries(NAMES, VALUES, max_size=6)) | draw(SIX) | common
    labels.setdefault("alertname", draw(st.one_of(PROMETHEUS_NAME, st.text(min_size=1, max_size=20))))
    status = draw(st.sampled_from(["firing", "resolved"]))
    ends = go_times() if status == "resolved" else st.one_of(st.just(FIRING_ENDS_AT), go_times())
    annotations = draw(
        st.dictionaries(NAMES, st.one_of(VALUES, st.text(min_size=3000, max_size=20_000)), max_size=4)
    )
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": draw(go_times()),
        "endsAt": draw(ends),
        "generatorURL": draw(st.sampled_from(["", "http://prometheus:9090/graph?g0.expr=up%3D%3D0"])),
        "fingerprint": f"{draw(st.integers(0, 2**64 - 1)) ^ n:016x}",
        **draw(st.fixed_dictionaries({}, optional={"futureAlertField": st.integers()})),
    }
    return omitted(
        alert, draw(st.sets(st.sampled_from(["annotations", "endsAt", "generatorURL", "fingerprint"])))
    )


def omitted(payload: dict, fields: set[str]) -> dict:
    """`payload` without the optional `fields` (an older Alertmanager sends fewer)."""
    return {k: v for k, v in payload.items() if k not in fields}


@st.composite
def alertmanager_payloads(
    draw, external_url: str = "http://alertmanager:9093", heartbeat: bool = True
) -> dict:
    """A genuine Alertmanager webhook body (version 4), as webhook_configs sends it: any UTF-8
    labels and annotations, times with offsets and fraction digits, firing and resolved alerts,
    firing ones with the zero endsAt, up to thousands of alerts, groupKeys of 4 KiB and more (a
    route that groups by many labels), truncatedAlerts, unknown fields a newer Alertmanager adds.
    `heartbeat`: the group may be the dead man's switch's `Watchdog` (for `external_url`)."""
    common = draw(st.dictionaries(NAMES, VALUES, max_size=4))
    if draw(st.booleans()):  # grouped by many labels: the groupKey runs to 4 KiB and more
        value = draw(st.sampled_from(["école", "team🙂", "x" * 40]))
        common |= {f"tenant_{i:03d}": f"{value}-{i}" for i in range(draw(st.integers(50, 400)))}
    if heartbeat and draw(st.integers(0, 9)) == 0:
        common["alertname"] = "Watchdog"
    alerts = [draw(am_alerts(common, i)) for i in range(draw(st.integers(1, 5)))]
    storm = draw(st.one_of(st.just(0), st.just(0), st.integers(1, 2500)))
    storm = min(storm, 4_000_000 // len(json.dumps(alerts[0])))  # a body of a few MB at most: cheap
    alerts += [
        {**alerts[0], "labels": {**alerts[0]["labels"], "pod": f"pod-{i:05d}"}, "fingerprint": f"{i:016x}"}
        for i in range(storm)
    ]
    route = draw(
        st.sampled_from(["{}", '{}/{severity=~"critical|warning"}', '{}/{team=~".+"}/{module="fees"}'])
    )
    shared = set.intersection(*(set(a["labels"].items()) for a in alerts))
    shared_notes = set.intersection(*(set(a.get("annotations", {}).items()) for a in alerts))
    payload = {
        "version": "4",
        "groupKey": route + ":{" + ", ".join(f'{k}="{v}"' for k, v in sorted(common.items())) + "}",
        "truncatedAlerts": draw(st.one_of(st.just(0), st.integers(0, 10**6))),
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": draw(st.one_of(st.just("preskool-irp"), st.text(max_size=20))),
        "groupLabels": common,
        "commonLabels": dict(shared),
        "commonAnnotations": dict(shared_notes),
        "externalURL": external_url,
        "alerts": alerts,
        **draw(st.fixed_dictionaries({}, optional={"futureField": st.dictionaries(st.text(), st.text())})),
    }
    optional = ["receiver", "groupLabels", "commonLabels", "commonAnnotations", "truncatedAlerts"]
    optional += [] if common.get("alertname") == "Watchdog" else ["externalURL"]  # a heartbeat is keyed by it
    return omitted(payload, draw(st.sets(st.sampled_from(optional))))


DECLARATIONS = st.fixed_dictionaries(
    {"summary": st.text(min_size=1, max_size=3000), "reporter": st.emails()},
    optional={
        "impact": st.text(max_size=5000),
        "severity": st.sampled_from(["P0", "P1", "P2", "P3"]),
        "source": st.one_of(st.sampled_from(["zendesk", "email", "manual"]), st.text(max_size=300)),
        "module": st.one_of(st.sampled_from(["fees", "attendance", "école"]), st.text(max_size=300)),
        "private": st.booleans(),
        "started_at": go_times(),  # with its offset, as people and tools send it
    },
)


def watchdog(url: str, status: str = "firing", **labels: str) -> dict:
    """kube-prometheus's Watchdog, as Alertmanager (the peer at `url`) delivers it; `labels` add
    Prometheus's external labels (`prometheus`, `cluster`), which name the pipeline."""
    beat = alert(
        status, "An alert that should always be firing", alertname="Watchdog", severity="none", **labels
    )
    payload = delivery(beat, group="Watchdog")
    payload["externalURL"] = url
    return payload

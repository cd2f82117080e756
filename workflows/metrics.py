"""Incident metrics, through the workflow's metric meter (the SDK skips them during replay, so a
replayed history never counts twice). The worker exports them on IRP_METRICS_ADDRESS."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

# Seconds: the plan's own windows (2 min, 10 min, 30 min, 4 h) and a day.
DURATION_BUCKETS = [30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400]
HISTOGRAMS = ("irp_time_to_acknowledge", "irp_time_to_mitigate", "irp_time_to_resolve")


def opened(severity: str) -> None:
    workflow.metric_meter().create_counter("irp_incidents_opened", "Incidents opened, by severity").add(
        1, {"severity": str(severity)}
    )


def took(name: str, severity: str, duration: timedelta) -> None:
    """`name` is one of HISTOGRAMS: time from the start to acknowledge, mitigate, resolve."""
    workflow.metric_meter().create_histogram_timedelta(
        name, f"{name.replace('_', ' ')[4:]}, by severity"
    ).record(duration, {"severity": str(severity)})


def update_overdue(severity: str) -> None:
    workflow.metric_meter().create_counter("irp_updates_overdue", "§5.2 updates that came late").add(
        1, {"severity": str(severity)}
    )


def deliverable_overdue(deliverable: str) -> None:
    workflow.metric_meter().create_counter("irp_deliverables_overdue", "§8 deliverables past their SLA").add(
        1, {"deliverable": deliverable}
    )


def promised(promise: str, severity: str, outcome: str) -> None:
    """A promise of the plan kept or missed (plan/compliance.py): `promise` is its key family
    (`acknowledge`, `triage`, `contain`, `fix`, `update`, `status-page`, a §8 key), `outcome`
    `kept` or `missed`. §4 and §5 promises are counted at the close-out, §8 ones at their due time
    (kept when done by then, missed when they go overdue)."""
    workflow.metric_meter().create_counter(
        "irp_promises", "Promises of the plan kept or missed, by promise, severity and outcome"
    ).add(1, {"promise": promise, "severity": str(severity), "outcome": outcome})


def measure(name: str, severity: str, seconds: float | None) -> None:
    """A metric a decider asked for (plan/effects.py Measure): a duration in seconds, or a count."""
    if name == "irp_incidents_opened":
        opened(severity)
    elif name == "irp_updates_overdue":
        update_overdue(severity)
    elif name == "irp_deliverables_overdue":
        deliverable_overdue(severity)
    elif seconds is not None:
        took(name, severity, timedelta(seconds=seconds))

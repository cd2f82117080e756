"""Compliance per quarter (issue 24 item 2): the figures as tables (plan/report.py), the timeline
picture's data (plan/picture.py), the charts and the self-contained HTML (reporting/)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plan.compliance import ComplianceCard, Promise
from plan.events import EventKind as K
from plan.incident import GateRun, IncidentStatus, Resolution, TimelineEntry
from plan.models import Phase, Severity
from plan.picture import picture
from plan.report import family, most_missed, overdue, quantile, render, report, spoken, spread, weeks
from reporting.collect import Found, began_since, visibility_query
from tests.fuzz import budget

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # a Monday
M = timedelta(minutes=1)
H = timedelta(hours=1)
NOW = T0 + timedelta(days=20)
SINCE = NOW - timedelta(days=90)


def promise(key: str, state: str, due: datetime, section: str = "§4.1", kept_at=None) -> Promise:
    late = (kept_at - due if kept_at and kept_at > due else None) if state != "open" else None
    return Promise(
        key=key,
        section=section,
        title=key.capitalize(),
        holder="Incident Commander (IC) asha",
        due_at=due,
        kept_at=kept_at,
        state=state,
        late_by=late,
    )


def card(
    n: int,
    severity: str | None,
    ack: timedelta | None,
    resolved: timedelta | None,
    promises=(),
    start: datetime = T0,
    private: bool = False,
) -> ComplianceCard:
    return ComplianceCard(
        incident_id=f"inc-{n}",
        severity=Severity(severity) if severity else None,
        private=private,
        started_at=start,
        resolved_at=start + resolved if resolved else None,
        acknowledged_at=start + ack if ack else None,
        promises=list(promises),
    )


@pytest.mark.parametrize(
    "values, q, expect",
    [
        ([], 0.5, None),
        ([7], 0.9, 7),
        ([1, 2, 3, 4], 0.5, 2.5),
        ([4, 1, 3, 2], 0.5, 2.5),  # order does not matter
        (list(range(1, 11)), 0.9, 9.1),
        (list(range(1, 11)), 0.5, 5.5),
        ([60, 120, 600], 0.9, 504),
        ([5, 5, 5], 0.9, 5),
    ],
)
def test_quantile_is_linear_between_ranks(values, q, expect):
    assert quantile(values, q) == pytest.approx(expect) if expect is not None else quantile(values, q) is None


def test_spread_of_durations():
    s = spread([2 * M, 1 * M, 10 * M])
    assert (s.n, s.median, s.p90) == (3, 2 * M, timedelta(minutes=8.4))
    assert spread([]).median is None and spread([]).n == 0


@pytest.mark.parametrize(
    "key, expect",
    [
        ("update-1", "update"),
        ("update-12", "update"),
        ("acknowledge", "acknowledge"),
        ("update-x", "update-x"),
        ("customer_email", "customer_email"),
    ],
)
def test_every_update_counts_as_one_promise(key, expect):
    assert family(key) == expect


def test_mtta_and_mttr_per_severity_over_resolved_incidents_in_the_window():
    cards = [
        card(1, "P0", 1 * M, 1 * H),
        card(2, "P0", 3 * M, 3 * H),
        card(3, "P0", 5 * M, 2 * H),
        card(4, "P1", 2 * M, 30 * M),
        card(5, None, None, 10 * M),
        card(6, "P0", 9 * M, None),  # open: not counted
        card(7, "P1", 1 * M, 1 * H, start=SINCE - M),  # before the window
    ]
    r = report(cards, SINCE, NOW)
    assert r.incidents == 5
    table = {s.severity: s for s in r.severities}
    assert [s.severity for s in r.severities] == ["P0", "P1", "—"]
    assert (table["P0"].incidents, table["P0"].mtta.median, table["P0"].mttr.median) == (3, 3 * M, 2 * H)
    assert table["P0"].mtta.p90 == timedelta(minutes=4.6) and table["P0"].mttr.p90 == timedelta(hours=2.8)
    assert (table["P1"].mtta.median, table["P1"].mttr.p90) == (2 * M, 30 * M)
    assert table["—"].mtta.n == 0 and table["—"].mtta.median is None and table["—"].mttr.median == 10 * M


def test_kept_rates_count_kept_over_judged_and_the_updates_as_one():
    due = T0 + 2 * M
    cards = [
        card(
            1,
            "P0",
            M,
            H,
            [
                promise("acknowledge", "kept", due, kept_at=T0 + M),
                promise("update-1", "missed", T0 + 15 * M, "§5.2"),
                promise("update-2", "kept", T0 + 30 * M, "§5.2", T0 + 29 * M),
            ],
        ),
        card(
            2,
            "P0",
            5 * M,
            H,
            [
                promise("acknowledge", "missed", due, kept_at=T0 + 5 * M),
                promise("update-1", "missed", T0 + 15 * M, "§5.2"),
                promise("runbook_update", "open", NOW + H, "§8"),
            ],
        ),
        card(3, "P1", M, H, [promise("acknowledge", "kept", due, kept_at=T0 + M)]),
    ]
    r = report(cards, SINCE, NOW)
    rates = {p.key: p for p in r.promises}
    assert [p.key for p in r.promises] == ["acknowledge", "update", "runbook_update"]
    assert (rates["acknowledge"].kept, rates["acknowledge"].missed) == (2, 1)
    assert rates["acknowledge"].rate == pytest.approx(2 / 3)
    assert (rates["update"].kept, rates["update"].missed, rates["update"].rate) == (
        1,
        2,
        pytest.approx(1 / 3),
    )
    assert rates["update"].title == "Updates at the severity's cadence"
    assert rates["runbook_update"].rate is None and rates["runbook_update"].open == 1
    assert [p.key for p in r.most_missed] == ["update", "acknowledge"]


def test_most_missed_by_misses_then_lowest_rate_and_at_most_five():
    due = T0
    cards = [
        card(i, "P1", M, H, [promise(f"p{i % 7}", "missed", due)] + [promise("p0", "kept", due)] * (i % 2))
        for i in range(14)
    ]
    ranked = most_missed(report(cards, SINCE, NOW).promises)
    assert len(ranked) == 5
    assert all(a.missed >= b.missed for a, b in zip(ranked, ranked[1:], strict=False))
    tied = [p for p in ranked if p.missed == ranked[0].missed]
    assert [p.rate for p in tied] == sorted(p.rate for p in tied)


def test_overdue_follow_ups_are_open_section_8_past_due_latest_first_private_without_holder():
    cards = [
        card(
            1,
            "P0",
            M,
            H,
            [
                promise("incident_report", "open", NOW - 2 * H, "§8"),
                promise("runbook_update", "open", NOW + H, "§8"),  # not due yet
                promise("update-3", "open", NOW - 5 * H, "§5.2"),
            ],
        ),  # not a follow-up
        card(
            2,
            "P1",
            M,
            H,
            [
                promise("action_items", "open", NOW - 30 * H, "§8"),
                promise("customer_email", "missed", NOW - 40 * H, "§8"),
            ],
            private=True,
        ),
    ]
    rows = overdue(cards, NOW)
    assert [(o.incident_id, o.key, o.late_by) for o in rows] == [
        ("inc-2", "action_items", 30 * H),
        ("inc-1", "incident_report", 2 * H),
    ]
    assert rows[0].holder is None and rows[1].holder == "Incident Commander (IC) asha"


def test_promises_kept_over_time_by_iso_week_of_their_due_time():
    cards = [
        card(
            1,
            "P0",
            M,
            H,
            [
                promise("a", "kept", T0 + H, kept_at=T0),
                promise("b", "missed", T0 + 6 * 24 * H),
                promise("c", "kept", T0 + 7 * 24 * H, kept_at=T0),
                promise("d", "open", T0),
            ],
        ),
    ]
    assert [(w.start.isoformat(), w.kept, w.missed) for w in weeks(cards)] == [
        ("2026-10-05", 1, 1),
        ("2026-10-12", 1, 0),
    ]


@pytest.mark.parametrize(
    "delta, said",
    [
        (None, "—"),
        (45 * timedelta(seconds=1), "45 s"),
        (3 * M, "3 min"),
        (200 * timedelta(seconds=1), "3 min 20 s"),
        (2 * H + 5 * M, "2 h 05 min"),
        (28 * H, "1 d 4 h"),
    ],
)
def test_durations_as_a_reader_says_them(delta, said):
    assert spoken(delta) == said


def test_the_text_report_names_every_figure():
    cards = [
        card(
            1,
            "P0",
            3 * M,
            2 * H,
            [
                promise("acknowledge", "missed", T0 + 2 * M, kept_at=T0 + 3 * M),
                promise("incident_report", "open", NOW - H, "§8"),
            ],
        )
    ]
    text = render(report(cards, SINCE, NOW))
    assert "| P0 | 1 | 3 min | 3 min | 2 h 00 min | 2 h 00 min |" in text
    assert "| Acknowledge | §4.1 | 0 | 1 | 0 | 0% |" in text
    assert "- Acknowledge (§4.1): missed 1, kept 0%" in text
    assert "- inc-1 (P0): Incident_report, due" in text and "1 h 00 min overdue" in text


def test_the_visibility_query_asks_for_resolved_incidents_since():
    assert "TaskQueue = 'irp'" in visibility_query(T0, "irp") and "TaskQueue" not in visibility_query(T0)
    with pytest.raises(ValueError, match="cannot be listed"):
        visibility_query(T0, "irp' OR WorkflowType = 'x")
    q = visibility_query(datetime(2026, 9, 1, 8, 30, tzinfo=UTC))
    assert "WorkflowType = 'IncidentWorkflow'" in q and "StartTime >= '2026-09-01T08:30:00Z'" in q
    assert "(ExecutionStatus = 'Running' AND IncidentStatus IN ('review', 'closed'))" in q
    assert "OR ExecutionStatus = 'Completed'" in q  # a terminated incident was not closed


# --- the timeline picture (§4.6) --------------------------------------------------------------------


def status(private: bool = False, resolved: timedelta | None = 50 * M) -> IncidentStatus:
    def e(kind: K, at: timedelta, text: str) -> TimelineEntry:
        return TimelineEntry(kind=kind, at=T0 + at, text=text)

    return IncidentStatus(
        incident_id="inc-pic",
        severity=Severity.P1,
        severity_reasons=[],
        phase=Phase.REVIEW if resolved else Phase.FIX,
        phases={
            Phase.DETECTION: T0 + 3 * M,
            Phase.TRIAGE: T0 + 4 * M,
            Phase.CONTAIN: T0 + 12 * M,
            Phase.FIX: T0 + 20 * M,
            **({Phase.RESOLVE: T0 + resolved, Phase.REVIEW: T0 + resolved} if resolved else {}),
        },
        summary="Logins fail",
        impact="",
        started_at=T0,
        received_at=T0 + 3 * M,
        roles=[],
        channel=None,
        paged=[],
        deliveries=1,
        private=private,
        resolution=Resolution(by="asha@preskool.com", summary="Rolled back", at=T0 + resolved)
        if resolved
        else None,
        gate_runs=[
            GateRun(at=T0 + 45 * M, by="asha@preskool.com", passed=False),
            GateRun(at=T0 + 49 * M, by="asha@preskool.com", passed=True),
        ],
        timeline=[
            e(K.paged, 3 * M, "paged On-Call Engineer (Primary) ben.okafor@preskool.com"),
            e(K.acknowledged, 4 * M, "acknowledged by ben.okafor@preskool.com"),
            e(K.update, 30 * M, "update: rolling back"),
            e(K.approved, 25 * M, "rollback approved by dana"),
            e(K.gate_failed, 45 * M, "§4.5 error rate 2% > 0.1%"),
            e(K.refused, 5 * M, "refused x"),
        ],
    )


def test_the_picture_has_the_phases_from_the_start_and_the_moments_that_matter():
    p = picture(status(), NOW)
    assert [(s.phase, s.start - T0, s.end - T0) for s in p.spans] == [
        (Phase.DETECTION, 0 * M, 4 * M),  # from the problem's start, not when we heard
        (Phase.TRIAGE, 4 * M, 12 * M),
        (Phase.CONTAIN, 12 * M, 20 * M),
        (Phase.FIX, 20 * M, 50 * M),
        (Phase.RESOLVE, 50 * M, 50 * M),
    ]
    assert [(m.kind, m.at - T0) for m in p.marks] == [
        ("paged", 3 * M),
        ("acknowledged", 4 * M),
        ("approved", 25 * M),
        ("update", 30 * M),
        ("gate-failed", 45 * M),
        ("gate-passed", 49 * M),
        ("resolved", 50 * M),
    ]
    assert p.ends_at == T0 + 50 * M and "ben.okafor" in p.marks[0].label


def test_an_open_incident_is_drawn_until_now_and_a_private_one_without_words():
    p = picture(status(private=True, resolved=None), T0 + 35 * M)
    assert p.ends_at == T0 + 35 * M and p.spans[-1].phase == Phase.FIX and p.spans[-1].end == T0 + 35 * M
    assert all(m.label == m.kind for m in p.marks) and "resolved" not in [m.kind for m in p.marks]


# --- charts and the HTML ----------------------------------------------------------------------------


class Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[tuple[str, bytes]] = []
        self.cells: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            head, _, data = a["src"].partition(",")
            assert head == "data:image/png;base64"
            self.images.append((a["alt"], base64.b64decode(data, validate=True)))

    def handle_data(self, data):
        self.cells.append(data)


def test_the_html_report_is_self_contained_with_its_charts_and_private_incidents_only_id_severity_phase():
    from reporting.charts import timeline_png
    from reporting.html import page

    secret = "Grades leaked for school-42"
    found = []
    for private in (False, True):
        s = status(private=private).model_copy(
            update={
                "incident_id": f"inc-{'p' if private else 'o'}",
                "summary": secret if private else "Logins fail",
            }
        )
        c = card(
            1,
            "P1",
            4 * M,
            50 * M,
            [promise("acknowledge", "missed", T0 + 2 * M, kept_at=T0 + 4 * M)],
            private=private,
        )
        found.append(
            Found(
                card=c.model_copy(update={"incident_id": s.incident_id}),
                picture=picture(s, NOW),
                summary="" if private else s.summary,
            )
        )
    html = page(report([f.card for f in found], SINCE, NOW), found)
    parsed = Images()
    parsed.feed(html)
    alts = [alt for alt, _ in parsed.images]
    assert alts == ["MTTA and MTTR by severity", "Promises kept over time", "Timeline strip of the incidents"]
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000 for _, png in parsed.images)
    assert 'src="http' not in html and "<script" not in html and "<link" not in html
    assert secret not in html and "Logins fail" in html
    private_row = parsed.cells[parsed.cells.index("inc-p") : parsed.cells.index("inc-p") + 4]
    assert private_row == ["inc-p", "P1", "REVIEW", "private"]
    assert timeline_png(picture(status(), NOW)).startswith(b"\x89PNG")


# --- the Grafana dashboard: the same figures from the worker's metrics --------------------------------


def test_the_dashboard_has_the_reports_figures_from_the_metric_the_worker_counts():
    import json
    import re

    root = Path(__file__).resolve().parent.parent
    dashboard = json.loads((root / "deploy" / "grafana-dashboard.json").read_text())
    panels = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in dashboard["panels"]}
    kept = panels["Promises kept rate, by promise"]
    assert 'irp_promises{outcome="kept"}' in kept and "sum by (promise)" in kept and "$__range" in kept
    assert (
        'topk(5, sum by (promise) (increase(irp_promises{outcome="missed"}' in panels["Most missed promises"]
    )
    for what, metric in (("MTTA", "irp_time_to_acknowledge_bucket"), ("MTTR", "irp_time_to_resolve_bucket")):
        expr = panels[f"{what} by severity: median and p90"]
        assert f"histogram_quantile(0.5, sum by (le, severity) (increase({metric}" in expr
        assert f"histogram_quantile(0.9, sum by (le, severity) (increase({metric}" in expr
    assert "irp_deliverables_overdue" in panels["Overdue follow-ups (§8)"]
    # the name and labels the worker really counts under (workflows/metrics.py), not a guess
    metrics = (root / "workflows" / "metrics.py").read_text()
    assert '"irp_promises"' in metrics
    assert re.search(r'\{"promise": promise, "severity": str\(severity\), "outcome": outcome\}', metrics)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


# --- end to end: incidents recorded on the dev server, found through visibility, their figures ------


async def test_the_report_finds_resolved_incidents_through_visibility_and_counts_their_figures(
    dev_env, run_worker, policy, prometheus, request, tmp_path
):
    import uuid

    from incident_client.intake import declare_incident
    from plan import Declaration
    from reporting.collect import found as found_one
    from reporting.collect import incident_ids, statuses
    from reporting.html import page
    from tests.helpers import eventually, finish, status_when
    from workflows import IncidentWorkflow

    prometheus.healthy(policy)
    now = datetime.now(UTC)
    # (severity, minutes ago the problem began, resolved, private)
    recorded = [
        ("P0", 10, True, False),
        ("P0", 20, True, False),
        ("P1", 30, True, True),
        ("P1", 5, False, False),
    ]
    handles = []
    async with run_worker(dev_env.client) as tq:
        for severity, ago, resolve, private in recorded:
            declaration = Declaration(
                summary=f"Report test {request.node.name[:20]} {ago}", severity=severity, private=private,
                reporter="support@preskool.com", source="test", started_at=now - ago * M,
            )  # fmt: skip
            receipt = await declare_incident(dev_env.client, tq, declaration, f"report-{uuid.uuid4()}")
            handle = dev_env.client.get_workflow_handle(receipt.incident_id)
            await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
            await status_when(handle, lambda s: s.acknowledged_at is not None)
            if resolve:
                await handle.signal("resolve", {"by": "asha.rao@preskool.com", "summary": "Rolled back"})
                await status_when(handle, lambda s: s.phase == "REVIEW" and s.deliverables)
            handles.append(handle)
        ids = [h.id for h in handles]
        # the first closes its §8 ledger: its run completes, and is read from its result (no query)
        for d in (await handles[0].query(IncidentWorkflow.status)).deliverables:
            link = {"by": "asha.rao@preskool.com", "deliverable": d.key, "link": f"https://x/{d.key}"}
            await handles[0].signal("complete_deliverable", link)
        await eventually(lambda: handles[0].result(), timeout=15)

        async def listed():  # visibility is eventually consistent
            seen = await incident_ids(dev_env.client, now - 2 * H, tq)
            return seen if set(ids[:3]) <= set(seen) and seen[ids[0]] else None

        seen = await eventually(listed)
        assert seen[ids[0]] and not seen[ids[1]]  # completed, and running in review
        read, unread = await statuses(dev_env.client, {i: seen[i] for i in ids[:3]}, 10.0)
        later = datetime.now(UTC)
        shown = [found_one(s, policy, later) for s in read]
        out = tmp_path / "report.html"
        code, said, _ = await irp(
            dev_env, tq, "report", "--since", "2h", "--format", "html", "--out", str(out)
        )
        for handle in handles[1:]:  # the first completed
            await finish(handle)
    assert ids[3] not in seen and unread == []  # the open incident is not counted
    by_id = {f.card.incident_id: f for f in shown}
    assert set(by_id) == set(ids[:3]) and by_id[ids[2]].summary == "" and by_id[ids[2]].picture.private
    for f, (_, ago, _, _) in zip((by_id[i] for i in ids[:3]), recorded, strict=False):
        assert abs(f.card.started_at - (now - ago * M)) < timedelta(seconds=1)
        assert ago * M <= f.card.acknowledged_at - f.card.started_at < (ago + 1) * M  # the known times
    r = report([f.card for f in shown], now - H, later)
    p0, p1 = r.severities
    assert (p0.severity, p0.incidents, p1.severity, p1.incidents, r.incidents) == ("P0", 2, "P1", 1, 3)
    mttas = sorted(by_id[i].card.acknowledged_at - by_id[i].card.started_at for i in ids[:2])
    assert abs(p0.mtta.median - (mttas[0] + mttas[1]) / 2) < timedelta(milliseconds=1)
    assert 15 * M <= p0.mtta.median < 16 * M
    assert p0.mttr.p90 >= 19 * M and p1.mttr.median >= 30 * M
    rates = {p.key: p for p in r.promises}
    assert (rates["acknowledge"].kept, rates["acknowledge"].missed) == (0, 3)  # each began > 2 min before
    assert by_id[ids[0]].card.promises and not [
        p for p in by_id[ids[0]].card.promises if p.section == "§8" and p.state != "kept"
    ]  # its ledger closed in time
    assert "acknowledge" in [p.key for p in r.most_missed]
    # the real CLI wrote the same report, over the incidents on its task queue (this test's)
    assert code == 0 and said == f"wrote {out} (3 incidents)\n"
    from_cli = Images()
    from_cli.feed(out.read_text())
    assert len(from_cli.images) == 3 and set(ids[:3]) <= set(from_cli.cells) and ids[3] not in from_cli.cells
    parsed = Images()
    parsed.feed(page(r, shown))
    assert (
        len(parsed.images) == 3
        and ids[2] in parsed.cells
        and "Report test"
        not in " ".join(parsed.cells[parsed.cells.index(ids[2]) : parsed.cells.index(ids[2]) + 4])
    )


S = timedelta(seconds=1)


async def test_each_incident_is_judged_by_its_own_policy_and_the_local_file_only_when_it_cannot_answer(
    dev_env, run_worker, policy, prometheus
):
    """An incident recorded under a 2-second P1 cadence (the local policy file says 30 minutes) is
    judged by its own numbers in the report while a worker answers its compliance query; with no
    worker, the local policy judges it and the report says how many and why."""
    import uuid

    from incident_client.intake import declare_incident
    from plan import Declaration
    from plan.compliance import card as card_under
    from reporting.collect import gather, incident_ids
    from tests.helpers import eventually, status_when
    from workflows import IncidentWorkflow

    own = policy.model_copy(update={"update_cadence": {**policy.update_cadence, Severity.P1: 2 * S}})
    assert policy.update_cadence[Severity.P1] == 30 * M  # what the CLI's file says
    prometheus.healthy(own)
    now = datetime.now(UTC)

    async def overdue_updates(handle) -> list | None:
        answer = await handle.query(IncidentWorkflow.compliance, datetime.now(UTC))
        overdue = [p for p in answer.promises if p.key.startswith("update-") and p.late_by]
        return overdue if len(overdue) >= 2 else None

    async with run_worker(dev_env.client, with_policy=own) as tq:
        declaration = Declaration(
            summary="Report under its own cadence", severity="P1", reporter="support@preskool.com",
            source="test", started_at=now - M,
        )  # fmt: skip
        receipt = await declare_incident(dev_env.client, tq, declaration, f"report-{uuid.uuid4()}")
        handle = dev_env.client.get_workflow_handle_for(IncidentWorkflow.run, receipt.incident_id)
        await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
        await eventually(lambda: overdue_updates(handle), timeout=30)  # two fell due under its own cadence
        await handle.signal("resolve", {"by": "asha.rao@preskool.com", "summary": "Rolled back"})
        status = await status_when(handle, lambda s: s.phase == "REVIEW" and s.deliverables)
        for d in status.deliverables:
            link = {"by": "asha.rao@preskool.com", "deliverable": d.key, "link": f"https://x/{d.key}"}
            await handle.signal("complete_deliverable", link)
        closed = await eventually(lambda: handle.result(), timeout=15)

        async def listed():  # visibility is eventually consistent
            seen = await incident_ids(dev_env.client, now - H, tq)
            return seen if seen.get(handle.id) else None

        await eventually(listed)
        answered, unread = await gather(dev_env.client, policy, now - H, datetime.now(UTC), tq, 10.0)
        code, said, _ = await irp(dev_env, tq, "report", "--since", "2h")
    alone, unread_alone = await gather(dev_env.client, policy, now - H, datetime.now(UTC), tq, 2.0)
    code_alone, said_alone, _ = await irp(dev_env, tq, "report", "--since", "2h")

    (f,) = answered
    assert unread == [] and f.local_because is None
    updates = [p for p in f.card.promises if p.key.startswith("update-")]
    assert len(updates) >= 2 and {p.state for p in updates} == {"missed"}
    assert all(b.due_at - a.due_at == 2 * S for a, b in zip(updates, updates[1:], strict=False))
    # judged as of its last step, not as of the report: between its resolution and its close
    closed_at = (await handle.describe()).close_time
    assert closed.resolution.at <= f.card.at <= closed_at and f.card.resolved_at == closed.resolution.at
    # under the local file's 30 minutes, the same incident would have owed no update at all
    assert not [p for p in card_under(closed, policy, f.card.at).promises if p.key.startswith("update-")]
    rates = {p.key: p for p in report([f.card], now - H, datetime.now(UTC)).promises}
    assert rates["update"].missed == len(updates)
    assert code == 0 and f"| Updates at the severity's cadence | §5.2 | 0 | {len(updates)} |" in said
    assert "judged by the local policy" not in said

    (g,) = alone  # no worker: its result is read from history, its own card cannot be had
    assert unread_alone == [] and g.local_because == "no worker answered its compliance query within 2 s"
    assert not [p for p in g.card.promises if p.key.startswith("update-")]  # the local 30 minutes
    assert code_alone == 0 and "## Judged by the local policy" in said_alone
    assert "1 of 1 incidents judged by the local policy (" in said_alone
    assert f"- 1: no worker answered its compliance query within 5 s ({handle.id})" in said_alone


def test_the_report_says_which_incidents_the_local_policy_judged_and_why():
    from cli.report import SHOWN_IDS, judged_locally
    from reporting.collect import Found
    from reporting.html import page

    def one(n: int, why: str | None) -> Found:
        c = card(n, "P1", M, H)
        return Found(card=c, picture=picture(status(), NOW), summary="", local_because=why)

    assert judged_locally([one(1, None), one(2, None)], "config/preskool.yaml") == []
    slow = "no worker answered its compliance query within 10 s"
    found = [one(1, None), one(2, slow), one(3, "it pinned no policy"), one(4, slow)]
    assert judged_locally(found, "/etc/irp/policy/preskool.yaml") == [
        "3 of 4 incidents judged by the local policy (/etc/irp/policy/preskool.yaml), "
        "not the one each pinned:",
        f"- 2: {slow} (inc-2, inc-4)",
        "- 1: it pinned no policy (inc-3)",
    ]
    many = [one(n, slow) for n in range(SHOWN_IDS + 3)]
    assert judged_locally(many, "p.yaml")[1].endswith("inc-9 and 3 more)")
    notes = judged_locally([one(1, "<b>odd</b>")], "p.yaml")
    html = page(report([f.card for f in found], SINCE, NOW), found, notes)
    assert '<p class="note">- 1: &lt;b&gt;odd&lt;/b&gt; (inc-1)</p>' in html


async def irp(dev_env, task_queue: str, *args: str) -> tuple[int, str, str]:
    """The real CLI (`python starter.py …`) against the dev server: exit code, stdout, stderr."""
    import asyncio
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    host = dev_env.client.service_client.config.target_host
    env = {**os.environ, "TEMPORAL_ADDRESS": host, "TEMPORAL_TASK_QUEUE": task_queue}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(root / "starter.py"), *args, "--wait", "5", env=env, cwd=root,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    "since, expect",
    [("90d", timedelta(days=90)), ("12w", timedelta(weeks=12)), ("36h", timedelta(hours=36)),
     ("0d", None), ("90", None), ("3m", None), ("-1d", None), ("d", None), ("999999d", None)],
)  # fmt: skip
def test_the_window_irp_report_reads(since, expect):
    from cli.report import window

    if expect is None:
        with pytest.raises(ValueError, match="say how far back as a number and h, d or w"):
            window(since)
    else:
        assert window(since) == expect


def test_a_window_irp_report_cannot_read_is_refused_before_it_connects():
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "starter.py"), "report", "--since=3m"],
        capture_output=True, text=True, timeout=60, env={"PATH": "", "TEMPORAL_ADDRESS": "127.0.0.1:9"},
    )  # fmt: skip
    assert done.returncode == 2 and "say how far back as a number and h, d or w" in done.stderr


def moved(s: IncidentStatus, by: timedelta) -> IncidentStatus:
    """The same incident `by` later."""
    return s.model_copy(
        update={
            "phases": {k: v + by for k, v in s.phases.items()},
            "resolution": s.resolution.model_copy(update={"at": s.resolution.at + by}),
            "timeline": [e.model_copy(update={"at": e.at + by}) for e in s.timeline],
            "gate_runs": [g.model_copy(update={"at": g.at + by}) for g in s.gate_runs],
        }
    )


def test_the_pictures_of_a_sample_quarter(tmp_path):
    """A fixed quarter (eight incidents over six weeks) drawn as the report draws it; with
    IRP_SCREENSHOTS=1 (`make screenshots`) the pictures docs/report.md shows are written."""
    from reporting.charts import kept_over_time_png, mtta_mttr_png, strip_png, timeline_png

    cards, pictures = [], []
    for n in range(8):
        start = T0 + timedelta(days=5 * n, hours=n)
        ack, fixed = (1 + 2 * (n % 3)) * M, (40 + 35 * n) * M
        s = status(private=n == 5, resolved=fixed).model_copy(
            update={
                "incident_id": f"inc-{n:04d}",
                "started_at": start,
                "severity": Severity("P0" if n % 2 else "P1"),
            }
        )
        s = moved(s, start - T0)
        pictures.append(picture(s, start + fixed))
        promises = [
            promise("acknowledge", "kept" if ack <= 2 * M else "missed", start + 2 * M, kept_at=start + ack)
        ]
        for k in range(1, 4):
            due = start + 15 * k * M
            promises.append(
                promise(f"update-{k}", "missed" if (n + k) % 4 == 0 else "kept", due, "§5.2", due)
            )
        cards.append(card(n, s.severity.value, ack, fixed, promises, start=start, private=n == 5))
    r = report(cards, T0 - H, T0 + timedelta(days=60))
    drawn = {
        "report-mtta-mttr": mtta_mttr_png(r.severities),
        "report-kept": kept_over_time_png(r.weeks),
        "report-strip": strip_png(pictures),
        "postmortem-timeline": timeline_png(picture(status(), NOW)),
    }
    assert all(png.startswith(b"\x89PNG") for png in drawn.values()) and len(r.weeks) >= 5
    folder = (
        Path(__file__).resolve().parent.parent / "docs" / "images"
        if os.environ.get("IRP_SCREENSHOTS")
        else tmp_path
    )
    for name, png in drawn.items():
        (folder / f"{name}.png").write_bytes(png)


# --- properties: whatever the cards, the figures hold together -----------------------------------------


_STATES = st.sampled_from(["kept", "missed", "open"])
_KEYS = st.sampled_from(["acknowledge", "triage", "update-1", "update-2", "status-page", "incident_report"])
_CARD = st.builds(
    lambda n, sev, ack, fix, ps: card(n, sev, ack * M if ack else None, fix * M if fix else None,
                                      [promise(k, s, T0 + d * M, "§8" if k == "incident_report" else "§4")
                                       for k, s, d in ps]),
    st.integers(0, 10**6), st.sampled_from(["P0", "P1", "P2", None]), st.integers(0, 600),
    st.one_of(st.none(), st.integers(1, 10**5)),
    st.lists(st.tuples(_KEYS, _STATES, st.integers(-10**4, 10**5)), max_size=8),
)  # fmt: skip


@budget(25)
@given(cards=st.lists(_CARD, max_size=12))
def test_the_figures_hold_together_for_any_cards(cards):
    r = report(cards, SINCE, NOW)
    counted = [c for c in cards if c.resolved_at is not None]
    assert r.incidents == len(counted) == sum(s.incidents for s in r.severities)
    for s in r.severities:
        for x in (s.mtta, s.mttr):
            assert x.n == 0 or x.median <= x.p90
    assert sum(p.kept + p.missed + p.open for p in r.promises) == sum(len(c.promises) for c in counted)
    assert all(p.rate is None or 0 <= p.rate <= 1 for p in r.promises)
    assert all(p.missed for p in r.most_missed) and len(r.most_missed) <= 5
    assert all(o.late_by > timedelta(0) for o in r.overdue)
    assert sum(w.kept + w.missed for w in r.weeks) == sum(p.kept + p.missed for p in r.promises)
    render(r)


@pytest.mark.parametrize(
    "since, counted",
    [
        (T0, True),  # the problem started in the window
        (T0 - 2160 * H, True),  # 90 days before
        (T0 + S, False),  # started before: a later run (continue-as-new) is not a new incident
    ],
)
def test_an_incident_counts_in_the_window_its_problem_started_in_whatever_its_latest_run(since, counted):
    """Visibility's StartTime is the latest run's; the window is the problem's start (docs/report.md)."""
    assert began_since(status(), since) is counted

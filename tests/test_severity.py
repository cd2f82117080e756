"""§2 and §6 as tables: every example row of §2 and every branch of the decision tree."""

import pytest

from plan import (
    Role,
    Severity,
    classify_alerts,
    classify_declaration,
    classify_labels,
    engagement,
    load_policy,
)
from plan.alerts import Alert, Declaration

POLICY = load_policy()
TRIAGE = POLICY.triage


# §2 example rows, as the labels an alert for each would carry.
@pytest.mark.parametrize(
    "example, labels, expected",
    [
        (
            "P0 Login down",
            {"alertname": "LoginDown", "scope": "all", "module": "auth", "severity": "critical"},
            "P0",
        ),
        (
            "P0 API returning 500s for all requests",
            {"alertname": "Api5xxAll", "scope": "all", "severity": "critical"},
            "P0",
        ),
        ("P0 DB unreachable", {"alertname": "PostgresDown", "scope": "all", "severity": "critical"}, "P0"),
        (
            "P1 Fee collection failing",
            {"alertname": "FeePaymentsFailing", "module": "fees", "severity": "critical"},
            "P1",
        ),
        ("P1 attendance marking down", {"alertname": "AttendanceDown", "module": "attendance"}, "P1"),
        ("P1 high error rate (>5%)", {"alertname": "HighErrorRate", "severity": "critical"}, "P1"),
        ("P2 Reports slow", {"alertname": "ReportsSlow", "module": "reports", "severity": "warning"}, "P2"),
        (
            "P2 library search failing",
            {"alertname": "LibrarySearch", "module": "library", "severity": "warning"},
            "P2",
        ),
        (
            "P2 notifications not sending",
            {"alertname": "NotifyStuck", "module": "notifications", "severity": "warning"},
            "P2",
        ),
        ("P3 UI glitch", {"alertname": "UiGlitch", "severity": "info"}, "P3"),
        (
            "P3 slow export for large datasets",
            {"alertname": "ExportSlow", "module": "exports", "severity": "info"},
            "P3",
        ),
        ("P3 one tenant affected", {"alertname": "TenantX", "scope": "tenant", "tenant": "school-42"}, "P3"),
    ],
)
def test_plan_examples(example, labels, expected):
    assert classify_labels(labels, TRIAGE).severity == expected, example


# §6 branch by branch, in the tree's order.
@pytest.mark.parametrize(
    "labels, expected, data_at_risk, reason",
    [
        ({"irp_severity": "P2", "scope": "all"}, "P2", False, "irp_severity=P2"),  # a person's override wins
        ({"irp_severity": "p1"}, "P1", False, "irp_severity=P1"),
        (
            {"irp_severity": "P9", "severity": "warning"},
            "P2",
            False,
            "severity=warning",
        ),  # junk override ignored
        ({"scope": "all"}, "P0", False, "ALL users"),  # affecting ALL users → P0
        ({"scope": "ALL", "severity": "info"}, "P0", False, "ALL users"),
        ({"data_at_risk": "true"}, "P0", True, "data at risk"),  # data at risk → P0 regardless
        ({"data_at_risk": "true", "scope": "tenant", "severity": "info"}, "P0", True, "regardless of scale"),
        ({"data_at_risk": "false", "severity": "info"}, "P3", False, "severity=info"),
        ({"module": "auth"}, "P1", False, "critical module auth"),  # critical module → P1
        ({"module": "fees"}, "P1", False, "critical module fees"),
        ({"module": "attendance"}, "P1", False, "critical module attendance"),
        ({"module": "grades"}, "P1", False, "critical module grades"),
        (
            {"module": "library", "severity": "critical"},
            "P1",
            False,
            "severity=critical",
        ),  # else Alertmanager severity
        ({"severity": "warning"}, "P2", False, "severity=warning"),
        ({"severity": "info"}, "P3", False, "severity=info"),
        ({}, "P3", False, "no severity label"),
        ({"severity": "warning", "workaround": "false"}, "P1", False, "no workaround → escalated P2 → P1"),
        ({"severity": "info", "workaround": "false"}, "P2", False, "escalated P3 → P2"),
        ({"module": "fees", "workaround": "false"}, "P0", False, "escalated P1 → P0"),
        ({"scope": "all", "workaround": "false"}, "P0", False, "ALL users"),  # never above P0
        (
            {"severity": "warning", "workaround": "true"},
            "P2",
            False,
            "severity=warning",
        ),  # workaround exists: P2/P3
    ],
)
def test_decision_tree(labels, expected, data_at_risk, reason):
    decision = classify_labels(labels, TRIAGE)
    assert decision.severity == expected
    assert decision.data_at_risk is data_at_risk
    assert any(reason in r for r in decision.reasons), decision.reasons


def alert(status="firing", **labels):
    return Alert(
        status=status,
        labels={"alertname": labels.pop("alertname", "A"), **labels},
        startsAt="2026-11-27T10:00:00Z",
    )


def test_group_takes_most_severe_firing_alert():
    decision = classify_alerts(
        [
            alert(severity="info"),
            alert(alertname="Fees", module="fees"),
            alert(status="resolved", scope="all"),
        ],
        TRIAGE,
    )
    assert decision.severity == Severity.P1
    assert "most severe of 2 firing alerts: Fees" in decision.reasons


def test_group_with_data_at_risk_anywhere_is_data_at_risk():
    decision = classify_alerts([alert(scope="all"), alert(data_at_risk="true")], TRIAGE)
    assert decision.severity == Severity.P0 and decision.data_at_risk


def test_declaration_takes_declared_severity_else_walks_the_tree():
    assert (
        classify_declaration(Declaration(summary="x", reporter="a@b.c", severity="P1"), TRIAGE).severity
        == "P1"
    )
    assert (
        classify_declaration(Declaration(summary="x", reporter="a@b.c", module="fees"), TRIAGE).severity
        == "P1"
    )
    assert classify_declaration(Declaration(summary="x", reporter="a@b.c"), TRIAGE).severity == "P3"


@pytest.mark.parametrize(
    "declared, severity, says",
    [
        ({}, "P3", "with neither a severity nor a module: the plan's default, P3 (§6)"),
        ({"module": "library"}, "P3", "for module library, which is not critical, with no severity: P3"),
        ({"module": "fees"}, "P1", "critical module fees broken → P1"),
        ({"severity": "P2"}, "P2", "declared P2 by a@b.c"),
    ],
)
def test_a_declaration_says_why_it_has_its_severity(declared, severity, says):
    """A newcomer's friction (issue 23): a declaration with no module and no severity became P3
    without a word; every declaration's first reason says, in a person's terms, why."""
    decision = classify_declaration(Declaration(summary="x", reporter="a@b.c", **declared), TRIAGE)
    assert decision.severity == severity and says in decision.reasons[0], decision.reasons


R = Role


# §3 RACI + §6: page R and A (+ data-at-risk extras), invite C, inform I.
@pytest.mark.parametrize(
    "severity, data_at_risk, page, invite, inform",
    [
        (
            "P0",
            False,
            [
                R.incident_commander,
                R.oncall_primary,
                R.oncall_secondary,
                R.engineering_lead,
                R.communications_lead,
            ],
            [R.database_lead],
            [R.cto],
        ),
        (
            "P1",
            False,
            [R.incident_commander, R.oncall_primary, R.engineering_lead, R.communications_lead],
            [R.database_lead],
            [R.oncall_secondary, R.cto],
        ),
        ("P2", False, [R.incident_commander, R.oncall_primary], [], [R.oncall_secondary, R.engineering_lead]),
        ("P3", False, [R.oncall_primary], [], [R.engineering_lead]),
        (
            "P0",
            True,
            [
                R.incident_commander,
                R.oncall_primary,
                R.oncall_secondary,
                R.engineering_lead,
                R.communications_lead,
                R.cto,
                R.database_lead,
            ],
            [],
            [],
        ),
    ],
)
def test_raci_engagement(severity, data_at_risk, page, invite, inform):
    e = engagement(POLICY, Severity(severity), data_at_risk)
    assert (e.page, e.invite, e.inform) == (page, invite, inform)


def test_p0_pages_ic_and_secondary_immediately():
    assert {R.incident_commander, R.oncall_secondary} <= set(engagement(POLICY, Severity.P0).page)


def test_p1_pages_ic():
    assert R.incident_commander in engagement(POLICY, Severity.P1).page


def test_communications_lead_only_with_customer_impact():
    no_impact = POLICY.model_copy(
        update={
            "severities": {
                **POLICY.severities,
                Severity.P1: POLICY.severities[Severity.P1].model_copy(update={"customer_impact": False}),
            }
        }
    )
    assert R.communications_lead not in engagement(no_impact, Severity.P1).page
    assert R.communications_lead in engagement(POLICY, Severity.P1).page

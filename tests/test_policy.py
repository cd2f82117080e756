"""The plan as data: the shipped file is the plan, and a bad file says where it is wrong."""

import pytest
import yaml

from plan import PolicyError, Raci, Role, Severity, load_policy, parse_policy
from plan.models import GatedAction
from plan.policy import DEFAULT_POLICY_FILE


def test_shipped_policy_is_the_plan():
    policy = load_policy()
    assert [policy.severities[s].name for s in Severity] == [
        "Complete Outage",
        "Major Degradation",
        "Partial Impact",
        "Minor Issue",
    ]
    assert policy.raci[Role.incident_commander].letter(Severity.P2) is Raci.A
    assert policy.raci[Role.incident_commander].letter(Severity.P3) is Raci.none
    assert policy.raci[Role.database_lead].letter(Severity.P0) is Raci.C
    assert policy.bridge_channel_prefix == "preskool-incident"
    assert policy.links.grafana_slo == "https://grafana.preskool.com/d/preskool-slo"
    assert set(policy.roster) == set(Role)


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda r: r["raci"]["cto"].update(P0="X"), "raci.cto.P0"),
        (lambda r: r["roster"]["oncall_primary"].update(email="not-an-email"), "roster.oncall_primary.email"),
        (lambda r: r["roster"]["oncall_primary"].update(pager="x"), "roster.oncall_primary.pager"),
        (lambda r: r["severities"].pop("P2"), "severities"),
        (lambda r: r.update(bridge_channel_prefix="Bad Prefix!"), "bridge_channel_prefix"),
        (
            lambda r: r["triage"]["alertmanager_severity"].update(critical="P7"),
            "triage.alertmanager_severity.critical",
        ),
    ],
)
def test_bad_policy_names_the_bad_key(mutate, where):
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    mutate(raw)
    with pytest.raises(PolicyError) as e:
        parse_policy(raw, source="x.yaml")
    assert str(e.value).startswith("x.yaml: ") and where in str(e.value), str(e.value)


def test_secrets_come_from_the_environment_and_stay_out_of_dumps(monkeypatch):
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY_IC", "R0UTINGSECRET")
    policy = load_policy()
    assert (
        policy.roster[Role.incident_commander].paging_keys["pagerduty"].get_secret_value() == "R0UTINGSECRET"
    )
    assert "R0UTINGSECRET" not in policy.model_dump_json()


def test_missing_environment_variable_is_named(tmp_path):
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    raw["roster"]["cto"]["paging_keys"] = {"pagerduty": "${IRP_TEST_UNSET_VARIABLE}"}
    with pytest.raises(
        PolicyError, match="roster.cto.paging_keys.pagerduty: environment variable IRP_TEST_UNSET_VARIABLE"
    ):
        parse_policy(raw)


@pytest.mark.parametrize(
    "reference, environment, expected",
    [
        ("${IRP_TEST_REF:-fallback}", {}, "fallback"),
        ("${IRP_TEST_REF:-fallback}", {"IRP_TEST_REF": ""}, "fallback"),  # compose passes unset as ""
        ("${IRP_TEST_REF:-fallback}", {"IRP_TEST_REF": "set"}, "set"),
        ("${IRP_TEST_REF:-}", {}, ""),
        ("${IRP_TEST_REF}", {"IRP_TEST_REF": ""}, ""),
        ("${IRP_TEST_REF}", {"IRP_TEST_REF": "set"}, "set"),
    ],
)
def test_a_reference_reads_the_environment_as_the_shell_does(monkeypatch, reference, environment, expected):
    monkeypatch.delenv("IRP_TEST_REF", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    raw["status_page"]["default_component"] = reference
    assert parse_policy(raw).status_page.default_component == expected


def test_policy_file_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "other.yaml"
    path.write_text(DEFAULT_POLICY_FILE.read_text().replace("preskool-incident", "ops-incident"))
    monkeypatch.setenv("IRP_POLICY_FILE", str(path))
    assert load_policy().bridge_channel_prefix == "ops-incident"


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("version: [1\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(tmp_path / "bad.yaml")


# --- authority fails closed (issue 11) ----------------------------------------------------------


def shipped() -> dict:
    return yaml.safe_load(DEFAULT_POLICY_FILE.read_text())


def refused(raw: dict) -> str:
    with pytest.raises(PolicyError) as e:
        parse_policy(raw, source="x.yaml")
    return str(e.value)


def test_a_misspelt_authority_key_is_refused_with_its_path():
    raw = shipped()
    raw["authority"]["resolv"] = raw["authority"].pop("resolve")
    message = refused(raw)
    assert "authority.resolv" in message, message


@pytest.mark.parametrize("action", [a.value for a in GatedAction])
def test_every_gated_action_must_be_named(action):
    raw = shipped()
    del raw["authority"][action]
    message = refused(raw)
    assert message.startswith("x.yaml: authority: ") and action in message, message


@pytest.mark.parametrize("who", ["anyon", [], ["incident_comander"], None])
def test_who_is_roles_or_anyone_and_nothing_else(who):
    raw = shipped()
    raw["authority"]["resolve"] = who
    assert "authority.resolve" in refused(raw)


def test_anyone_is_said_explicitly_and_an_unnamed_role_may_not():
    policy = load_policy()
    assert policy.authority[GatedAction.acknowledge] == "anyone"
    assert policy.may(GatedAction.acknowledge, set())
    assert not policy.may(GatedAction.resolve, {Role.oncall_primary})
    assert policy.may(GatedAction.resolve, {Role.engineering_lead})
    assert not policy.may(GatedAction.force_resolve, {Role.engineering_lead})
    assert not policy.may("resolv", {Role.incident_commander})  # a name outside the set: no


def test_deliverables_and_product_actions_are_named_exactly():
    raw = shipped()
    raw["deliverables"]["runbook_updates"] = raw["deliverables"].pop("runbook_update")
    assert "deliverables.runbook_updates" in refused(raw)
    raw = shipped()
    del raw["deliverables"]["customer_email"]
    assert "deliverables: " in refused(raw) and "customer_email" in refused(raw)
    raw = shipped()
    del raw["actions"]["send_customer_email"]
    assert "actions: " in refused(raw) and "send_customer_email" in refused(raw)

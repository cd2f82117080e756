"""The plan as data: the shipped file is the plan, and a bad file says where it is wrong."""

import pytest
import yaml

from plan import PolicyError, Raci, Role, Severity, load_policy, parse_policy
from plan.policy import DEFAULT_POLICY_FILE



def test_shipped_policy_is_the_plan():
    policy = load_policy()
    assert [policy.severities[s].name for s in Severity] == [
        "Complete Outage", "Major Degradation", "Partial Impact", "Minor Issue"]
    assert policy.raci[Role.incident_commander].letter(Severity.P2) is Raci.A
    assert policy.raci[Role.incident_commander].letter(Severity.P3) is Raci.none
    assert policy.raci[Role.database_lead].letter(Severity.P0) is Raci.C
    assert policy.slack_channel_prefix == "preskool-incident"
    assert policy.links.grafana_slo == "https://grafana.preskool.com/d/preskool-slo"
    assert set(policy.roster) == set(Role)


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r["raci"]["cto"].update(P0="X"), "raci.cto.P0"),
    (lambda r: r["roster"]["oncall_primary"].update(email="not-an-email"), "roster.oncall_primary.email"),
    (lambda r: r["roster"]["oncall_primary"].update(pager="x"), "roster.oncall_primary.pager"),
    (lambda r: r["severities"].pop("P2"), "severities"),
    (lambda r: r.update(slack_channel_prefix="Bad Prefix!"), "slack_channel_prefix"),
    (lambda r: r["triage"]["alertmanager_severity"].update(critical="P7"), "triage.alertmanager_severity.critical"),
])
def test_bad_policy_names_the_bad_key(mutate, where):
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    mutate(raw)
    with pytest.raises(PolicyError) as e:
        parse_policy(raw, source="x.yaml")
    assert str(e.value).startswith("x.yaml: ") and where in str(e.value), str(e.value)


def test_secrets_come_from_the_environment_and_stay_out_of_dumps(monkeypatch):
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY_IC", "R0UTINGSECRET")
    policy = load_policy()
    assert policy.roster[Role.incident_commander].pagerduty_routing_key.get_secret_value() == "R0UTINGSECRET"
    assert "R0UTINGSECRET" not in policy.model_dump_json()


def test_missing_environment_variable_is_named(tmp_path):
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    raw["roster"]["cto"]["pagerduty_routing_key"] = "${IRP_TEST_UNSET_VARIABLE}"
    with pytest.raises(PolicyError, match="roster.cto.pagerduty_routing_key: environment variable IRP_TEST_UNSET_VARIABLE"):
        parse_policy(raw)


def test_policy_file_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "other.yaml"
    path.write_text(DEFAULT_POLICY_FILE.read_text().replace("preskool-incident", "ops-incident"))
    monkeypatch.setenv("IRP_POLICY_FILE", str(path))
    assert load_policy().slack_channel_prefix == "ops-incident"


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("version: [1\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(tmp_path / "bad.yaml")

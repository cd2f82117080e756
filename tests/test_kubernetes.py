"""deploy/kubernetes/ (issue 21): rendered with kustomize (`kubectl kustomize`, offline), every
document validated against the Kubernetes schemas of a pinned version (kubernetes-validate), and
the promises checked: probes on real health, secrets only by reference, PodDisruptionBudgets that
select their own pods, the receiver's paths, a worker Deployment per build for blue-green."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy.environment import PROCESSES, secret_variables, variables
from devstack.devserver import UPDATE_PAYLOAD_LIMIT  # the dev server's, issue 20
from tests.helpers import page_paths
from webhook.app import KNOWN_PATHS

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.32"  # the oldest minor still supported upstream when this was written
BUILD_LABEL = "irp.preskool.com/build"
BUILDS = sorted(p.parent for p in (KUBE / "builds").glob("*/kustomization.yaml"))


def kustomize(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed (its `kubectl kustomize` renders deploy/kubernetes/)")
    done = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def build_overlay(tmp_path: Path, build: str) -> Path:
    """Another build's overlay, made as docs/operating.md says: a copy with the id replaced."""
    example = BUILDS[0]
    overlay = tmp_path / build
    overlay.mkdir()
    text = (example / "kustomization.yaml").read_text().replace(example.name, build)
    worker = os.path.relpath(KUBE / "worker", overlay)
    (overlay / "kustomization.yaml").write_text(text.replace("../../worker", worker))
    return overlay


def one(documents: list[dict], kind: str, component: str | None = None) -> dict:
    found = [
        d
        for d in documents
        if d["kind"] == kind
        and (
            component is None
            or d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        )
    ]
    assert len(found) == 1, (kind, component, [d["metadata"]["name"] for d in found])
    return found[0]


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize(KUBE / "base")


@pytest.fixture(scope="module")
def build() -> list[dict]:
    return kustomize(BUILDS[0])


def test_there_is_an_example_build():
    assert [b.name for b in BUILDS] == ["641aa3c"]


def test_every_document_is_valid_for_the_pinned_kubernetes(base, build, tmp_path):
    documents = base + build + kustomize(build_overlay(tmp_path, "9e8d7c6"))
    assert {d["kind"] for d in documents} >= {
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "ConfigMap",
    }
    for document in documents:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{document['kind']}/{document['metadata']['name']}: {e.message} at {list(e.path)}")


def test_a_broken_document_is_refused():
    """The validation above can fail: an unknown field and a wrong type are refused."""
    deployment = yaml.safe_load((KUBE / "worker" / "deployment.yaml").read_text().split("\n---\n")[0])
    container(deployment)["readinesProbe"] = container(deployment).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = yaml.safe_load((KUBE / "worker" / "deployment.yaml").read_text().split("\n---\n")[0])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_probes_resources_and_the_metrics_port(base, build):
    receiver, worker = (
        container(one(base, "Deployment", "receiver")),
        container(one(build, "Deployment", "worker")),
    )
    for c in (receiver, worker):
        assert c["readinessProbe"] and c["livenessProbe"], c["name"]
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe in (c["readinessProbe"], c["livenessProbe"]):
            if "httpGet" in probe:
                assert probe["httpGet"]["port"] in ports, c["name"]
    # The receiver: /healthz, which it serves (webhook/app.py).
    assert receiver["readinessProbe"]["httpGet"]["path"] == "/healthz" in KNOWN_PATHS
    # The worker: ready while the server sees it polling (connection/health.py); alive while it serves
    # its metrics, on the port IRP_METRICS_ADDRESS names.
    assert worker["readinessProbe"]["exec"]["command"] == ["python", "-m", "connection.health"]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    env = {e["name"]: e.get("value") for e in worker["env"]}
    metrics = {p["name"]: p["containerPort"] for p in worker["ports"]}["metrics"]
    assert env["IRP_METRICS_ADDRESS"] == f"0.0.0.0:{metrics}"


def test_secrets_are_referenced_never_written(base, build):
    """No Secret is rendered, no secret variable has a literal value, and the settings file the
    ConfigMap is made from holds no secret; each process takes its Secret whole (envFrom)."""
    secrets = secret_variables()
    documents = base + build
    assert not [d for d in documents if d["kind"] == "Secret"]
    expected = {"receiver": "irp-receiver", "worker": "irp-worker"}
    for component, secret in expected.items():
        c = container(one(documents, "Deployment", component))
        literal = {e["name"] for e in c["env"] if "value" in e}
        assert not literal & secrets, f"{component} writes {literal & secrets}"
        assert {"secretRef": {"name": secret}} in c["envFrom"] and {
            "configMapRef": {"name": "irp-settings"}
        } in c["envFrom"]
        for e in c["env"]:
            if e["name"] in secrets:
                assert e["valueFrom"]["secretKeyRef"]["name"] == secret
    settings = one(base, "ConfigMap")
    assert settings["metadata"]["name"] == "irp-settings"
    assert not set(settings["data"]) & secrets
    readers = set().union(*(variables(p) for p in ("worker", "receiver")))
    assert set(settings["data"]) <= readers, f"no process reads {set(settings['data']) - readers}"
    assert settings["data"]["TEMPORAL_NAMESPACE"] == "preskool-irp"


def test_each_pdb_selects_exactly_its_own_deployments_pods(base, build, tmp_path):
    other = kustomize(build_overlay(tmp_path, "9e8d7c6"))
    deployments = [d for d in base + build + other if d["kind"] == "Deployment"]
    for pdb in (d for d in base + build + other if d["kind"] == "PodDisruptionBudget"):
        selected = [
            d["metadata"]["name"]
            for d in deployments
            if matches(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(selected) == 1, (pdb["metadata"]["name"], selected)
        (deployment,) = [d for d in deployments if d["metadata"]["name"] == selected[0]]
        assert matches(deployment["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"])


def ingresses(documents: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == "Ingress"}


def routed_by(path: str, ingress: dict) -> bool:
    """Whether one of `ingress`'s rules routes `path` (Prefix by path segment, Exact as written)."""
    return any(
        (path == p["path"] or path.startswith(p["path"].rstrip("/") + "/"))
        if p["pathType"] == "Prefix"
        else path == p["path"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    )


def test_the_receiver_is_reached_through_its_service_and_ingress_over_tls(base):
    deployment, service, ingress = (
        one(base, "Deployment", "receiver"),
        one(base, "Service"),
        ingresses(base)["irp-receiver"],
    )
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in container(deployment)["ports"]}
    (rule,) = ingress["spec"]["rules"]
    paths = {(p["path"], p["pathType"]) for p in rule["http"]["paths"]}
    assert paths == {("/webhooks/", "Prefix"), ("/slack/events", "Exact"), ("/incidents", "Exact")}
    for p in rule["http"]["paths"]:
        assert p["backend"]["service"] == {
            "name": service["metadata"]["name"],
            "port": {"name": port["name"]},
        }
    routed = {k for k in KNOWN_PATHS if any(k.startswith(p) if t == "Prefix" else k == p for p, t in paths)}
    assert routed == KNOWN_PATHS - {"/healthz"}  # /metrics/ and /healthz stay in the cluster
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"] and tls["hosts"] == [rule["host"]]
    env = {e["name"]: e.get("value") for e in container(deployment)["env"]}
    assert env["IRP_WEBHOOK_HOST"] == "0.0.0.0" and env["IRP_WEBHOOK_PORT"] == str(
        {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}["http"]
    )
    size = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert int(size.rstrip("m")) >= 32  # an Alertmanager storm's delivery (MAX_ALERTMANAGER_BODY)


def test_the_read_only_pages_have_their_own_ingress_to_the_receiver(base):
    """Every page at /ui/ is routed, by an Ingress of its own (an SSO's annotations there never
    reach the paths Alertmanager, PagerDuty and Slack call), on the same host, TLS and Service."""
    found = ingresses(base)
    assert set(found) == {"irp-receiver", "irp-receiver-pages"}, set(found)
    webhooks, pages = found["irp-receiver"], found["irp-receiver-pages"]
    for path in page_paths():
        assert routed_by(path, pages) and not routed_by(path, webhooks), path
    for path in KNOWN_PATHS | {"/metrics/"}:
        assert not routed_by(path, pages), f"the pages' Ingress routes {path}"
    assert pages["spec"]["rules"][0]["host"] == webhooks["spec"]["rules"][0]["host"]
    assert pages["spec"]["tls"] == webhooks["spec"]["tls"]
    ((backend,),) = [[p["backend"] for p in rule["http"]["paths"]] for rule in pages["spec"]["rules"]]
    assert backend == webhooks["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == one(base, "Service")["metadata"]["name"]


def test_the_route_check_can_fail():
    ingress = {"spec": {"rules": [{"http": {"paths": [{"path": "/ui/", "pathType": "Prefix"}]}}]}}
    assert routed_by("/ui/", ingress) and routed_by("/ui/report", ingress)
    assert not routed_by("/uix", ingress) and not routed_by("/incidents", ingress)


def test_the_policy_is_a_configmap_mounted_as_the_file_the_worker_reads(build):
    worker = one(build, "Deployment", "worker")
    c, spec = container(worker), worker["spec"]["template"]["spec"]
    policy_file = Path({e["name"]: e.get("value") for e in c["env"]}["IRP_POLICY_FILE"])
    (mount,) = [m for m in c["volumeMounts"] if Path(m["mountPath"]) == policy_file.parent]
    assert mount["readOnly"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (configmap,) = [d for d in build if d["kind"] == "ConfigMap"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert configmap["data"][policy_file.name] == (ROOT / "config" / "preskool.yaml").read_text()


def test_a_worker_deployment_per_build_runs_beside_the_others(build, tmp_path):
    """Blue-green: each build's Deployment, PDB and policy carry the build id in name and labels,
    its pods learn their id from that label, and two builds share no object and no pod."""
    other = kustomize(build_overlay(tmp_path, "9e8d7c6"))
    for documents, build_id in ((build, BUILDS[0].name), (other, "9e8d7c6")):
        worker = one(documents, "Deployment", "worker")
        assert worker["metadata"]["name"] == f"irp-worker-{build_id}"
        assert worker["spec"]["selector"]["matchLabels"][BUILD_LABEL] == build_id
        assert worker["spec"]["template"]["metadata"]["labels"][BUILD_LABEL] == build_id
        assert container(worker)["image"].endswith(f":{build_id}")
        env = {e["name"]: e for e in container(worker)["env"]}
        assert (
            env["IRP_BUILD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{BUILD_LABEL}']"
        )
        assert env["IRP_DEPLOYMENT_NAME"]["value"] == "preskool-irp"
        assert all(
            d["metadata"]["name"].startswith("irp-") and build_id in d["metadata"]["name"] for d in documents
        )
        assert {d["metadata"].get("namespace") for d in documents} == {"preskool-irp"}
    assert not {d["metadata"]["name"] for d in build} & {d["metadata"]["name"] for d in other}
    blue, green = one(build, "Deployment", "worker"), one(other, "Deployment", "worker")
    assert not matches(blue["spec"]["selector"], green["spec"]["template"]["metadata"]["labels"])


def test_the_worker_gets_what_it_reads_from_its_settings_its_secret_or_literally(build):
    """What the worker sets literally is a variable it reads (no typo reaches the pod silently)."""
    c = container(one(build, "Deployment", "worker"))
    assert {e["name"] for e in c["env"]} <= variables("worker")
    assert PROCESSES["worker"].reads_policy


def test_the_temporal_helm_values_hold_the_update_limit_and_the_retention(base):
    values = yaml.safe_load((KUBE / "temporal-values.yaml").read_text())
    dynamic = values["server"]["dynamicConfig"]
    assert dynamic["history.maxInFlightUpdatePayloads"] == [
        {"value": UPDATE_PAYLOAD_LIMIT, "constraints": {}}
    ]
    namespaces = values["server"]["config"]["namespaces"]
    (namespace,) = namespaces["namespace"]
    assert namespaces["create"] is True
    assert namespace["name"] == one(base, "ConfigMap")["data"]["TEMPORAL_NAMESPACE"]
    amount, unit = re.fullmatch(r"(\d+)([dh])", namespace["retention"]).groups()
    assert timedelta(**{"days" if unit == "d" else "hours": int(amount)}) >= timedelta(days=30)
    compose = (ROOT / "deploy" / "temporal" / "dynamicconfig" / "production.yaml").read_text()
    assert (
        yaml.safe_load(compose)["history.maxInFlightUpdatePayloads"]
        == dynamic["history.maxInFlightUpdatePayloads"]
    )
    assert values["web"]["ingress"]["enabled"] is False  # the UI is not published
    assert values["server"]["image"]["tag"] == values["admintools"]["image"]["tag"]


@pytest.mark.parametrize("process, secret", [("worker", "irp-worker"), ("receiver", "irp-receiver")])
def test_the_install_guide_names_every_secret_of_each_process(process, secret):
    """docs/operating.md's list of what goes in each Secret: exactly the process's secret variables."""
    guide = (ROOT / "docs" / "operating.md").read_text()
    line = re.search(rf"^\s*- `{secret}`: (.+)$", guide, re.M)
    assert line, f"docs/operating.md lists no keys for {secret}"
    assert set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.group(1))) == secret_variables() & variables(process)

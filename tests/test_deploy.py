"""The production files, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def compose_config(**env: str) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if not binary:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's docker-compose)")
    required = ("POSTGRES_PASSWORD", "IRP_WEBHOOK_TOKEN", "IRP_PUBLIC_HOST")
    base = {k: v for k, v in os.environ.items() if k not in required}
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid():
    done = compose_config(
        POSTGRES_PASSWORD="pw", IRP_WEBHOOK_TOKEN="token", IRP_PUBLIC_HOST="irp.example.com"
    )
    assert done.returncode == 0, done.stderr


def test_compose_refuses_to_run_the_receiver_open():
    done = compose_config(POSTGRES_PASSWORD="pw", IRP_PUBLIC_HOST="irp.example.com")
    assert done.returncode != 0 and "IRP_WEBHOOK_TOKEN" in done.stderr


def test_compose_runs_the_entry_points_the_suite_tests():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert services["webhook"]["command"] == ["python", "-m", "webhook"]
    assert {"postgresql", "temporal", "temporal-ui", "prometheus"} <= set(services)
    assert (
        "container_name" not in services["worker"] and "ports" not in services["worker"]
    )  # --scale worker=3


def test_prometheus_scrapes_what_the_processes_serve():
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())["scrape_configs"]
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    worker_port = int(services["worker"]["environment"]["IRP_METRICS_ADDRESS"].rsplit(":", 1)[1])
    assert scrape[0]["dns_sd_configs"][0]["port"] == worker_port
    assert scrape[1]["metrics_path"] == "/metrics/"  # the receiver mounts its metrics app there
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "irp_incidents_opened",
        "irp_time_to_acknowledge_bucket",
        "irp_time_to_mitigate_bucket",
        "irp_time_to_resolve_bucket",
        "irp_updates_overdue",
        "irp_deliverables_overdue",
        "irp_webhook_requests_total",
    ):
        assert metric in exprs, metric


def test_dockerfile_copies_every_package_pyproject_installs():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, re.M)) | set(
        " ".join(re.findall(r"^COPY (.+) \./$", dockerfile, re.M)).split()
    )
    # A subpackage (activities.chat) comes with the directory of the package it is in.
    missing = {p for p in setuptools["packages"] if p.split(".")[0] not in copied} | (
        {m + ".py" for m in setuptools["py-modules"]} - copied
    )
    assert not missing, f"the Dockerfile does not copy {missing}"
    assert "RUN pip install --no-cache-dir ." in dockerfile


def test_pyproject_installs_every_subpackage():
    """setuptools installs only the packages it lists: a new port's package left out of
    pyproject.toml would be missing from the image."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in listed
        if "." not in top
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= listed, f"pyproject.toml does not list {on_disk - listed}"


def test_the_image_has_the_scripts_the_executors_run():
    """`bash scripts/rollback.sh` runs from the worker's directory (/app in the image)."""
    assert re.search(r"^COPY scripts scripts$", (ROOT / "Dockerfile").read_text(), re.M)


def test_the_image_installs_the_cli_as_irp():
    """`pip install .` (the Dockerfile, `make install`) makes the `irp` command from cli/main.py;
    starter.py, kept for `python starter.py`, runs the same main."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["irp"] == "cli.main:main"
    assert "cli" in project["tool"]["setuptools"]["packages"]
    assert "starter" in project["tool"]["setuptools"]["py-modules"]
    assert re.search(r"^def main\(\) -> None:", (ROOT / "cli" / "main.py").read_text(), re.M)
    assert re.search(r"^from cli.main import main$", (ROOT / "starter.py").read_text(), re.M)


def test_compose_passes_the_rollback_namespace_to_the_workers():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["worker"]["environment"]["IRP_K8S_NAMESPACE"] == "${IRP_K8S_NAMESPACE:-preskool}"


# The bot scopes each Slack method needs with a bot token (each method's page on
# api.slack.com/methods). A method the code calls that is missing here fails the test below.
# groups:*: the same methods on a private incident's private bridge (README: Private incidents).
SLACK_SCOPES = {
    "auth.test": set(),
    "chat.postEphemeral": {"chat:write"},
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "conversations.archive": {"channels:manage", "groups:write"},
    "conversations.create": {"channels:manage", "groups:write"},
    # DMs: a retried direct message looks for itself (activities.chat.notify_person).
    "conversations.history": {"channels:history", "groups:history", "im:history"},
    # 📌 on a reply in a thread: history holds only top-level messages (webhook/slack/people.py).
    "conversations.replies": {"channels:history", "groups:history", "im:history"},
    # A retried bridge opening looks up the channel its create made, private ones too.
    "conversations.info": {"channels:read", "groups:read"},
    "conversations.invite": {"channels:manage", "groups:write"},
    "conversations.join": {"channels:join"},
    "conversations.list": {"channels:read", "groups:read"},  # types=public_channel,private_channel
    "conversations.open": {"im:write"},
    "conversations.setPurpose": {"channels:manage", "groups:write"},
    "conversations.unarchive": {"channels:manage", "groups:write"},
    # slack_sdk's files_upload_v2: files.getUploadURLExternal and files.completeUploadExternal, both
    # files:write (the post-mortem's timeline picture in the bridge, issue 24).
    "files.upload_v2": {"files:write"},
    "users.info": {"users:read", "users:read.email"},  # profile.email
    "users.lookupByEmail": {"users:read.email"},
    "views.open": set(),
    "views.update": set(),
    "views.push": set(),
}
# What the app needs that is no Web API call: the slash command and the reaction events.
SLACK_APP_SCOPES = {"commands", "reactions:read"}
SLACK_CALL = re.compile(r"\bclient\.((?:auth|chat|conversations|users|views|reactions|files|pins)_\w+)\b")


def slack_methods_called() -> set[str]:
    """Slack methods the code calls through slack_sdk, called or passed on
    (`client.chat_postMessage` → chat.postMessage)."""
    sources = [ROOT / "activities" / "chat" / "slack.py", *sorted((ROOT / "webhook").rglob("*.py"))]
    return {name.replace("_", ".", 1) for path in sources for name in SLACK_CALL.findall(path.read_text())}


def test_slack_app_manifest_sends_everything_to_the_signed_endpoint_and_asks_only_for_what_is_used():
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yaml").read_text())
    settings = manifest["settings"]
    (command,) = manifest["features"]["slash_commands"]
    urls = [
        command["url"],
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    ]
    assert all(url.startswith("https://") and url.endswith("/slack/events") for url in urls), urls
    assert command["command"] == "/incident" and settings["interactivity"]["is_enabled"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) == {"reaction_added", "reaction_removed"}
    assert settings["socket_mode_enabled"] is False and settings["org_deploy_enabled"] is False

    called = slack_methods_called()
    assert {"chat.postMessage", "conversations.create", "conversations.open"} <= called  # the scan reads
    assert not called - set(SLACK_SCOPES), (
        f"add these methods' scopes to SLACK_SCOPES: {called - set(SLACK_SCOPES)}"
    )
    needed = set().union(*(SLACK_SCOPES[m] for m in called)) | SLACK_APP_SCOPES
    # The interactive app (issue 15) answers with these, whether or not its module is merged yet.
    needed |= SLACK_SCOPES["chat.update"] | SLACK_SCOPES["users.info"] | SLACK_SCOPES["users.lookupByEmail"]
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    assert granted == needed, f"missing {needed - granted}, never used {granted - needed}"

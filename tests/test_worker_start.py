"""The worker as production starts it (issue 21): it says at start, by name, which integrations are
off and what turns each on; and its health check is true only while the server sees it polling."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities import PROVIDERS, WITHOUT, IntegrationSettings
from connection.health import not_polling
from deploy.environment import env_names
from tests.helpers import eventually
from worker import build_worker

ROOT = Path(__file__).resolve().parent.parent
# Values each provider's settings accept (no network is touched to build a provider).
VALUES = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY000000000000000000000",
    "PAGERDUTY_API_TOKEN": "pd-token",
    "STATUSPAGE_API_KEY": "sp-key",
    "STATUSPAGE_PAGE_ID": "page1",
    "PROMETHEUS_URL": "http://prometheus.example:9090",
    "JIRA_URL": "https://preskool.atlassian.net",
    "JIRA_EMAIL": "irp@preskool.com",
    "JIRA_API_TOKEN": "jira-token",
    "JIRA_PROJECT": "OPS",
    "SMTP_HOST": "smtp.example.com",
}


def environment_of(monkeypatch, **values: str) -> None:
    """Only `values` in the environment: nothing of the machine's turns an integration on."""
    for name in list(os.environ):
        if name not in ("PATH", "HOME"):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


PORTS_AND_PROVIDERS = [(port, p) for port, ps in PROVIDERS.items() for p in ps if p.enabled_by]


@pytest.mark.parametrize(
    "port, provider", PORTS_AND_PROVIDERS, ids=[f"{p}-{c.name}" for p, c in PORTS_AND_PROVIDERS]
)
def test_the_variables_a_warning_names_are_the_ones_that_turn_the_provider_on(port, provider, monkeypatch):
    """All of `enabled_by` set: the provider is on; any one of them missing: off."""
    assert set(provider.enabled_by) <= set(env_names(provider.Settings).values())
    environment_of(monkeypatch, **{n: VALUES[n] for n in provider.enabled_by})
    assert provider.from_settings(provider.Settings(), ()) is not None
    for missing in provider.enabled_by:
        environment_of(monkeypatch, **{n: VALUES[n] for n in provider.enabled_by if n != missing})
        assert provider.from_settings(provider.Settings(), ()) is None, f"on without {missing}"


async def test_the_worker_warns_at_start_about_each_integration_that_is_off(
    dev_env, policy, monkeypatch, caplog
):
    """Slack set, nothing else: one warning for each other port, naming what is lost and the
    variables to set; none for Slack, none for the executor (always on)."""
    environment_of(monkeypatch, SLACK_BOT_TOKEN=VALUES["SLACK_BOT_TOKEN"])
    with caplog.at_level("WARNING", logger="activities"):
        build_worker(dev_env.client, f"tq-{uuid.uuid4().hex[:8]}", policy, IntegrationSettings())
    warnings = {
        r.getMessage().split(" is off")[0]: r.getMessage() for r in caplog.records if r.name == "activities"
    }
    assert set(warnings) == {"paging", "on call", "status page", "recovery", "tickets", "email"}
    for port, message in warnings.items():
        key = port.replace(" ", "_")
        assert WITHOUT[key] in message
        for provider in PROVIDERS[key]:
            assert all(name in message for name in provider.enabled_by), message
    assert "every resolve must be forced" in warnings["recovery"] and "PROMETHEUS_URL" in warnings["recovery"]
    assert "PAGERDUTY_ROUTING_KEY_IC" in warnings["paging"]  # the roster's own keys turn paging on too


async def test_a_real_worker_start_with_nothing_set_warns_for_every_integration(dev_env, tmp_path):
    """`python worker.py` as the container runs it (its log on stderr), with no integration set."""
    address = dev_env.client.service_client.config.target_host
    env = {
        "PATH": os.environ["PATH"],
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_TASK_QUEUE": f"tq-{uuid.uuid4().hex[:8]}",
        "IRP_LOG_FORMAT": "text",
    }
    worker = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        for line in worker.stderr:  # the warnings come before "worker polling"
            lines.append(line)
            if "worker polling" in line:
                break
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    off = [line for line in lines if " is off (" in line]
    assert len(off) == len(PROVIDERS) - 1, "".join(lines)  # all but the executor
    assert any("tickets is off" in line and "JIRA_API_TOKEN" in line for line in off)


async def test_health_is_true_only_while_the_server_sees_this_host_polling(dev_env, policy, integrations):
    client = dev_env.client
    host = socket.gethostname()
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    assert "no worker on" in await not_polling(client, task_queue, host)
    async with build_worker(client, task_queue, policy, integrations):

        async def polling() -> bool:
            return await not_polling(client, task_queue, host) is None

        await eventually(polling)  # its first poll reaches the server
        assert "no worker on elsewhere" in await not_polling(client, task_queue, "elsewhere")
        later = datetime.now(UTC) + timedelta(minutes=5)  # as if it had stopped polling 5 minutes ago
        assert "last polled" in await not_polling(client, task_queue, host, now=later)
        address = client.service_client.config.target_host
        probe = [sys.executable, "-m", "connection.health"]
        env = {"PATH": os.environ["PATH"], "TEMPORAL_ADDRESS": address, "TEMPORAL_TASK_QUEUE": task_queue}
        done = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        other = env | {"TEMPORAL_TASK_QUEUE": f"{task_queue}-none"}
        done = subprocess.run(probe, cwd=ROOT, env=other, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "no worker on" in done.stderr
    unreachable = {"PATH": os.environ["PATH"], "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    done = subprocess.run(probe, cwd=ROOT, env=unreachable, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "cannot ask Temporal" in done.stderr


def test_a_worker_with_no_build_id_refuses_to_start(tmp_path):
    """Outside a checkout, from an image built without BUILD_ID: no build id ("dev"), so the
    worker does not start (an id shared by two builds would run new code under incidents pinned
    to the old), unless it is the local stack's own, always-current build."""
    env = {"PATH": os.environ["PATH"], "IRP_BUILD_ID": "dev", "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    done = subprocess.run([sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode != 0 and "this code has no build id" in done.stderr, done.stderr

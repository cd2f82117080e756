"""The real Prometheus Alertmanager and the real Prometheus against our code.

1. Alertmanager (Debian's prometheus-alertmanager) groups two alerts itself and delivers them,
   with its own bearer auth, to the receiver served by uvicorn on a real port: one incident opens
   with the severity from the labels and pages; ending the alerts with amtool delivers a "resolved"
   notification that marks the incident ready to verify without resolving it. A receiver config
   with the wrong token gets 401 (Alertmanager counts the failure) and opens nothing.
2. Prometheus scrapes tests/exporter.py every second, and the real §4.5 gate activity evaluates
   the shipped policy's `recovery_checks` PromQL against it.
3. The dead man's switch: Prometheus's `vector(1)` Watchdog rule, through Alertmanager's README
   route, beats the heartbeat (no incident); Alertmanager killed, the silence pages the on-call
   primary once; Alertmanager back, its next delivery ends the alarm and resolves the page.

Skipped where the binaries are missing: `.ci/run` installs them."""

from __future__ import annotations

import asyncio
import math
import shutil
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.recovery import RecoveryVerdict, VerificationActivities, VerifyRecovery
from activities.recovery.prometheus import Prometheus
from plan.heartbeat import page_key
from plan.models import HeartbeatPolicy
from sandbox.slack import SlackFake
from tests.exporter import Exporter
from tests.helpers import status_when
from tests.processes import Process, free_port, wait_for
from webhook.app import create_app
from workflows import HeartbeatWorkflow

ALERTMANAGER = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
AMTOOL = shutil.which("amtool")
PROMETHEUS = shutil.which("prometheus")
INSTALLED_BY = ".ci/run installs Debian's prometheus and prometheus-alertmanager"

needs_alertmanager = pytest.mark.skipif(
    not (ALERTMANAGER and AMTOOL), reason=f"alertmanager/amtool not installed: {INSTALLED_BY}"
)
needs_prometheus = pytest.mark.skipif(not PROMETHEUS, reason=f"prometheus not installed: {INSTALLED_BY}")


# ---------------------------------------------------------------------------------------------------
# processes


async def ready(url: str, proc: Process, what: str) -> None:
    async with httpx.AsyncClient(timeout=2) as http:

        async def up() -> bool:
            try:
                return (await http.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(up, what, proc, timeout=20)


class Alertmanager(Process):
    def __init__(self, tmp: Path, config: dict):
        self.port = free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "am.yml").write_text(yaml.safe_dump(config))
        super().__init__(
            "alertmanager",
            [
                ALERTMANAGER,
                f"--config.file={tmp / 'am.yml'}",
                f"--storage.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            tmp / "alertmanager.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def amtool(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            AMTOOL,
            f"--alertmanager.url={self.url}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, f"amtool {' '.join(args)} exited {proc.returncode}: {out.decode()}"
        return out.decode()

    async def metric(self, name: str) -> float:
        """The sum of one metric's samples on Alertmanager's own /metrics."""
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"{self.url}/metrics")).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )


class PrometheusServer(Process):
    """Prometheus scraping `targets` (itself when None), evaluating `rules` every second and sending
    their alerts to `alertmanagers` (host:port) every second (resend delay 1s, not 1m)."""

    def __init__(
        self,
        tmp: Path,
        targets: list[str] | None = None,
        *,
        rules: list[dict] | None = None,
        alertmanagers: list[str] | None = None,
    ):
        self.port = free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "preskool",
                    "static_configs": [{"targets": targets or [f"127.0.0.1:{self.port}"]}],
                }
            ],
        }
        if rules:
            (tmp / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "irp", "rules": rules}]}))
            config["rule_files"] = [str(tmp / "rules.yml")]
        if alertmanagers:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]}
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        super().__init__(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--rules.alert.resend-delay=1s",
            ],
            tmp / "prometheus.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# ---------------------------------------------------------------------------------------------------
# 1. Alertmanager → the receiver


def am_config(receiver_url: str, token: str, wrong_alert: str) -> dict:
    """What a user pastes (README), plus a second receiver with the wrong token for one alert name."""

    def webhook(name: str, credentials: str) -> dict:
        return {
            "name": name,
            "webhook_configs": [
                {
                    "url": f"{receiver_url}/webhooks/alertmanager",
                    "send_resolved": True,
                    "http_config": {"authorization": {"type": "Bearer", "credentials": credentials}},
                }
            ],
        }

    return {
        "route": {
            "receiver": "preskool-irp",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1h",
            "routes": [{"receiver": "wrong-token", "matchers": [f'alertname="{wrong_alert}"']}],
        },
        "receivers": [webhook("preskool-irp", token), webhook("wrong-token", "not-" + token)],
    }


@pytest.fixture
async def served(dev_env, policy):
    """`served(task_queue)`: the real receiver app on uvicorn, on a free port, in this event loop."""
    servers: list[tuple[uvicorn.Server, asyncio.Task]] = []
    token = f"am-token-{uuid.uuid4().hex[:12]}"

    async def serve(task_queue: str) -> str:
        async def connect():
            return dev_env.client

        app = create_app(token=SecretStr(token), task_queue=task_queue, connect=connect)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        servers.append((server, asyncio.create_task(server.serve())))
        await wait_for(lambda: server.started or servers[-1][1].done(), "uvicorn serving", timeout=10)
        assert server.started, f"uvicorn did not start: {servers[-1][1]}"
        return f"http://127.0.0.1:{port}"

    serve.token = token
    yield serve
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
def processes():
    started: list[Process] = []
    yield started
    for proc in started:
        proc.stop()


async def incidents_on(client, task_queue: str) -> list[str]:
    return [w.id async for w in client.list_workflows(f'TaskQueue = "{task_queue}"')]


@needs_alertmanager
async def test_real_alertmanager_groups_delivers_and_resolves(
    dev_env, run_worker, served, pagerduty, slack, processes, tmp_path
):
    run = uuid.uuid4().hex[:8]
    name, wrong = f"PreskoolDown{run}", f"WrongToken{run}"
    async with run_worker(dev_env.client) as tq:
        url = await served(tq)
        am = Alertmanager(tmp_path / "am", am_config(url, served.token, wrong))
        processes.append(am.start())
        await ready(f"{am.url}/-/ready", am, "alertmanager ready")

        # Two alerts of one group (alertname): Alertmanager's own grouping makes them one delivery.
        await am.amtool(
            "alert",
            "add",
            name,
            "scope=all",
            "module=auth",
            "instance=a",
            "--annotation=summary=Every school sees 502s",
        )
        await am.amtool(
            "alert",
            "add",
            name,
            "severity=warning",
            "instance=b",
            "--annotation=summary=Every school sees 502s",
        )
        await am.amtool("alert", "add", wrong, "scope=all", "--annotation=summary=Sent with the wrong token")

        ids = await wait_for(lambda: incidents_on(dev_env.client, tq), "an incident opened", am, timeout=20)
        handle = dev_env.client.get_workflow_handle(ids[0])
        status = await status_when(handle, lambda s: s.channel and len(s.paged) == 5, timeout=20)
        assert status.severity == "P0" and any("scope" in r for r in status.severity_reasons), (
            status.severity_reasons
        )
        assert status.deliveries >= 1
        assert "2 firing" in status.summary or status.deliveries >= 2, status.summary
        assert len({t["dedup_key"] for t in pagerduty.triggers()}) == 5

        # The wrong token: 401 is final for Alertmanager (no retry), counted as a failed notification.
        await wait_for(
            lambda: am.metric("alertmanager_notifications_failed_total"), "the 401 counted", am, timeout=20
        )
        assert any(
            "wrong-token/webhook" in line and "unexpected status code 401" in line
            for line in am.log.read_text().splitlines()
        ), am.tail()

        # End both alerts: the "resolved" notification reaches the incident; it stays open.
        past = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for labels in (["scope=all", "module=auth", "instance=a"], ["severity=warning", "instance=b"]):
            await am.amtool(
                "alert", "add", name, *labels, f"--end={past}", "--annotation=summary=Every school sees 502s"
            )
        status = await status_when(
            handle,
            lambda s: any("resolved" in e.text and "0 firing" in e.text for e in s.timeline),
            timeout=20,
        )
        ready_post = await wait_for(
            lambda: [
                m
                for m in slack.messages(status.channel)
                if "✅ All alerts in this group resolved" in m.get("text", "")
            ],
            "the ready-to-verify post in the bridge",
            timeout=10,
        )
        assert "ready to verify" in ready_post[0]["text"]
        status = await status_when(
            handle,
            lambda s: any(e.kind == "posted" and "alerts-resolved" in e.text for e in s.timeline),
            timeout=10,
        )
        assert status.resolution is None and str(status.phase) not in ("REVIEW", "Phase.REVIEW")
        assert (await handle.describe()).status.name == "RUNNING"

        # Nothing opened for the wrong-token alert: this queue holds exactly the one incident.
        assert await incidents_on(dev_env.client, tq) == ids
        await handle.terminate("test finished")


# ---------------------------------------------------------------------------------------------------
# 3. The dead man's switch: Prometheus's always-firing Watchdog through Alertmanager

WATCHDOG_RULE = {
    "alert": "Watchdog",
    "expr": "vector(1)",
    "labels": {"severity": "none"},
    "annotations": {"summary": "An alert that should always be firing to certify that Alertmanager works."},
}


def watchdog_am_config(receiver_url: str, token: str) -> dict:
    """The README's route for the Watchdog, with its intervals in seconds (repeat_interval still
    shorter than the heartbeat window)."""
    receiver = {
        "name": "preskool-irp",
        "webhook_configs": [
            {
                "url": f"{receiver_url}/webhooks/alertmanager",
                "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
            }
        ],
    }
    watchdog = {
        "receiver": "preskool-irp",
        "matchers": ['alertname="Watchdog"'],
        "group_wait": "0s",
        "group_interval": "1s",
        "repeat_interval": "2s",
    }
    return {
        "route": {"receiver": "preskool-irp", "group_by": ["alertname"], "routes": [watchdog]},
        "receivers": [receiver],
    }


@pytest.fixture
async def slack():
    """Slack with the policy's alerts channel (#preskool-alerts), where the pipeline's silence is told."""
    async with SlackFake(channels=("general", "preskool-alerts")) as fake:
        yield fake


def alerts_posts(slack) -> list[str]:
    return [m.get("text", "") for m in slack.messages("preskool-alerts")]


@needs_alertmanager
@needs_prometheus
async def test_real_watchdog_beats_a_silent_alertmanager_pages_once_and_its_return_ends_it(
    dev_env, run_worker, served, pagerduty, slack, policy, processes, tmp_path
):
    window = timedelta(seconds=10)
    quick = policy.model_copy(update={"heartbeat": HeartbeatPolicy(window=window)})
    async with run_worker(dev_env.client, with_policy=quick) as tq:
        url = await served(tq)
        am = Alertmanager(tmp_path / "am", watchdog_am_config(url, served.token))
        processes.append(am.start())
        await ready(f"{am.url}/-/ready", am, "alertmanager ready")
        prom = PrometheusServer(
            tmp_path / "prom", rules=[WATCHDOG_RULE], alertmanagers=[f"127.0.0.1:{am.port}"]
        )
        processes.append(prom.start())
        await ready(f"{prom.url}/-/ready", prom, "prometheus ready")

        # Prometheus fires Watchdog, Alertmanager re-sends it every couple of seconds: beats, no incident.
        [heartbeat] = await wait_for(lambda: incidents_on(dev_env.client, tq), "a heartbeat started", am, 30)
        assert heartbeat.startswith("heartbeat-")
        handle = dev_env.client.get_workflow_handle(heartbeat)
        status = await wait_for(lambda: beats(handle, 3), "three Watchdog deliveries", am, 30)
        assert status.alertmanager.startswith("http") and status.state.alarm is None
        assert await incidents_on(dev_env.client, tq) == [heartbeat]
        assert pagerduty.triggers() == [] and alerts_posts(slack) == []

        # Alertmanager dies: within the window the on-call primary is paged, once, and the channel told.
        am.kill9()
        await wait_for(lambda: pagerduty.triggers() and alerts_posts(slack), "the silence paged", prom, 30)
        [trigger] = pagerduty.triggers()
        assert trigger["dedup_key"] == page_key(heartbeat, 1)
        assert "silent since" in alerts_posts(slack)[0] and "<@U0ONCALL01> is paged" in alerts_posts(slack)[0]

        # It comes back (same address): Prometheus re-sends Watchdog, the next delivery ends the alarm.
        am.start()
        await wait_for(
            lambda: not pagerduty.open_alerts() and len(alerts_posts(slack)) == 2, "the alarm ended", am, 30
        )
        assert "is back" in alerts_posts(slack)[1]
        assert len(pagerduty.triggers()) == 1
        assert await incidents_on(dev_env.client, tq) == [heartbeat]
        await handle.terminate("test finished")


async def beats(handle, at_least: int):
    status = await handle.query(HeartbeatWorkflow.status)
    return status if status.state.beats >= at_least else None


# ---------------------------------------------------------------------------------------------------
# 2. Prometheus evaluates the resolve gate's PromQL

HEALTHY = dict(
    requests_per_second=200.0,
    error_ratio=0.0,
    latency={0.1: 1.0},
    pods={"backend-0": "Running", "backend-1": "Running"},
)
BROKEN = dict(
    requests_per_second=200.0,
    error_ratio=0.05,
    latency={0.1: 0.9, 1.0: 1.0},
    pods={"backend-0": "Running", "backend-1": "Pending"},
)


async def gate(prometheus_url: str, policy) -> RecoveryVerdict:
    activities = VerificationActivities(Prometheus(prometheus_url, ssl.create_default_context()))
    return await ActivityEnvironment().run(
        activities.verify_recovery,
        VerifyRecovery(incident_id="inc-real-prometheus", checks=policy.recovery_checks),
    )


@pytest.fixture
async def scraped(processes, tmp_path):
    """`await scraped(**exporter_kwargs)`: a Prometheus of its own scraping an exporter every second,
    once the rate() of every checked series has two samples. Several start side by side."""
    exporters: list[Exporter] = []

    async def start(label: str, **kwargs) -> tuple[str, Exporter]:
        exporter = await Exporter(**kwargs).__aenter__()
        exporters.append(exporter)
        prom = PrometheusServer(tmp_path / label, [exporter.target])
        processes.append(prom.start())
        await ready(f"{prom.url}/-/ready", prom, f"prometheus ({label}) ready")
        client = Prometheus(prom.url, ssl.create_default_context())

        async def two_samples() -> bool:  # rate() answers once a series has two samples in the window
            return bool(await client.query('count(rate(http_requests_total{namespace="preskool"}[5m]))'))

        await wait_for(two_samples, f"prometheus ({label}) has two scrapes", prom, timeout=20)
        return prom.url, exporter

    yield start
    for exporter in exporters:
        await exporter.__aexit__(None, None, None)


@needs_prometheus
async def test_real_prometheus_gate_passes_healthy_and_fails_broken_with_measured_values(scraped, policy):
    urls = await asyncio.gather(
        scraped("healthy", **HEALTHY),
        scraped("broken", **BROKEN),
        scraped("idle", **{**HEALTHY, "requests_per_second": 0.0}),
    )
    healthy, broken, idle = await asyncio.gather(*(gate(url, policy) for url, _ in urls))

    assert healthy.passed, healthy
    values = {r.name: r.value for r in healthy.results}
    assert values["error rate"] == 0
    # every request in (0.05, 0.1]: the 95th percentile is 95% of the way through that bucket
    assert math.isclose(values["P95 latency"], 0.0975, rel_tol=0.02)
    assert values["pods not Running"] == 0

    assert not broken.passed
    by_name = {r.name: r for r in broken.results}
    assert not any(r.passed for r in broken.results), broken
    assert math.isclose(by_name["error rate"].value, 0.05, rel_tol=0.02)
    assert by_name["error rate"].detail == "error rate 5.00% (needs < 0.1%)"
    # 90% under 100ms, the rest in (0.5, 1]: the 95th percentile is halfway into that bucket.
    assert math.isclose(by_name["P95 latency"].value, 0.75, rel_tol=0.02)
    assert by_name["P95 latency"].detail == "P95 latency 750ms (needs < 500ms)"
    assert by_name["pods not Running"].value == 1
    assert by_name["pods not Running"].detail == "1 pods not Running (needs all K8s pods Running)"

    # No traffic at all: 0/0 and a quantile of empty buckets are NaN, which fails every comparison.
    # The gate refuses (nothing was measured); the IC can force the resolve with a reason.
    assert not idle.passed
    assert [r.detail for r in idle.results] == [
        "error rate NaN (needs < 0.1%)",
        "P95 latency NaN (needs < 500ms)",
        "0 pods not Running (needs all K8s pods Running)",
    ]


@needs_prometheus
async def test_real_prometheus_gate_passes_when_no_5xx_was_ever_served(scraped, policy):
    """Client libraries expose a code only once seen: a service that never served a 5xx has no
    5xx series, and the error-rate PromQL (`… or vector(0)`) must count that as 0, not as no data."""
    url, _ = await scraped("no-5xx-series", **HEALTHY, expose_zero_errors=False)
    verdict = await gate(url, policy)
    assert verdict.passed, [r.detail for r in verdict.results]

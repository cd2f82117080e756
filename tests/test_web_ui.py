"""The real Temporal Web UI (the dev server's) in Debian's Chromium: a person signals an incident from
the browser, as the README tells them to, and the workflow acts on it. `make screenshots` writes
the README's pictures to docs/images/."""

from __future__ import annotations

import os
import re
import uuid

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[test]')")

from playwright.async_api import expect  # noqa: E402

from connection.search_attributes import register_search_attributes  # noqa: E402
from incident_client.intake import deliver_alerts  # noqa: E402
from plan import AlertmanagerDelivery  # noqa: E402
from tests import webui  # noqa: E402
from tests.conftest import binary  # noqa: E402
from tests.helpers import AUTH, TOKEN, eventually, finish, serving, status_when  # noqa: E402
from tests.payloads import alert, delivery  # noqa: E402
from tests.processes import free_port  # noqa: E402
from webhook.app import create_app  # noqa: E402

ACK = '{"by": "ben.okafor@preskool.com"}'


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go: docs/images/ for `make screenshots` (IRP_SCREENSHOTS=1, the README's
    pictures), else a temporary folder, so a test run leaves the work tree as it was."""
    return webui.IMAGES if os.environ.get("IRP_SCREENSHOTS") else tmp_path


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Skip (with the reason) where Debian's Chromium is missing: Playwright must never download one."""
    if why := webui.chromium_missing(webui.CHROMIUM):
        pytest.skip(why)
    return webui.CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ui_env(chromium_path):
    """A dev server of this module's own, with its Web UI on a free port: (env, ui_url)."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-disable-news-fetch"],
        dev_server_log_level="error",
    )
    await register_search_attributes(env.client)
    ui_url = f"http://127.0.0.1:{ui_port}"

    async def ui_up():
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(ui_url)).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(ui_up)
    yield env, ui_url
    await env.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser(chromium_path):
    async with webui.chromium(chromium_path) as b:
        yield b


@pytest_asyncio.fixture
async def page(browser):
    page = await webui.new_page(browser)
    yield page
    await page.close()


async def test_acknowledge_sent_from_the_web_ui_moves_the_incident_to_triage(
    ui_env, page, run_worker, policy, shots
):
    env, ui_url = ui_env
    payload = delivery(
        alert(module="fees", summary="Fee collection failing"), group=f"WebUi-{uuid.uuid4().hex[:8]}"
    )
    async with run_worker(env.client) as tq:
        receipt = await deliver_alerts(env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = env.client.get_workflow_handle(receipt.incident_id)
        before = await status_when(handle, lambda s: s.channel)
        assert before.phase == "DETECTION" and before.acknowledged_by is None

        await webui.send_signal_in_ui(
            page,
            ui_url,
            env.client.namespace,
            receipt.incident_id,
            "acknowledge",
            ACK,
            screenshot_to=shots / "ui-send-signal.png",
        )
        status = await status_when(handle, lambda s: s.phase == "TRIAGE")

        shown = await webui.query_in_ui(page, "status")  # the same, as the UI shows it
        assert '"phase": "TRIAGE"' in shown, shown
        await webui.screenshot(page, shots / "ui-after-signal.png")
        await finish(handle)

    assert status.acknowledged_by == "ben.okafor@preskool.com"
    assert [e.text for e in status.timeline if e.kind == "acknowledged"] == [
        "acknowledged by ben.okafor@preskool.com"
    ]


async def test_rollback_approved_from_the_web_ui_runs_once(ui_env, page, run_worker, policy, tmp_path, shots):
    """§3/§4.3 from the browser: the Engineering Lead pastes the bridge's JSON into Send a Signal →
    `approve`, and the rollback runs, once."""
    import sys

    from plan.models import Executor

    runs = tmp_path / "runs.log"
    rollback = policy.actions["rollback"].model_copy(
        update={
            "executor": Executor(
                command=[
                    sys.executable,
                    "-c",
                    "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')",
                    str(runs),
                    "{target}",
                ]
            )
        }
    )
    drill = policy.model_copy(update={"actions": {**policy.actions, "rollback": rollback}})
    env, ui_url = ui_env
    payload = delivery(alert(module="fees"), group=f"WebUi-{uuid.uuid4().hex[:8]}")
    async with run_worker(env.client, with_policy=drill) as tq:
        receipt = await deliver_alerts(env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = env.client.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.channel)
        await handle.signal(
            "request_action",
            {
                "request_id": "rollback-1",
                "action": "rollback",
                "target": "backend",
                "by": "ben.okafor@preskool.com",
                "reason": "errors since the deploy",
            },
        )
        await status_when(handle, lambda s: s.requests)

        await webui.send_signal_in_ui(
            page,
            ui_url,
            env.client.namespace,
            receipt.incident_id,
            "approve",
            '{"request_id": "rollback-1", "by": "dana.whitfield@preskool.com"}',
            screenshot_to=shots / "ui-approve.png",
        )
        status = await status_when(handle, lambda s: s.requests[0].state == "done")
        await finish(handle)

    assert runs.read_text() == "backend\n"
    assert status.requests[0].approvals[0].by == "dana.whitfield@preskool.com"


# --- The receiver's own incident pages (/ui/, webhook/pages/) -----------------------------------------


async def inputs(handle) -> list[str]:
    """Every input the incident's history holds: signals and updates (what a page could send)."""
    kinds = (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    )
    history = await handle.fetch_history()
    return [EventType.Name(e.event_type) for e in history.events if e.event_type in kinds]


async def test_the_incident_pages_in_a_browser_only_read(ui_env, browser, run_worker, policy, shots):
    """A P0 worked to REVIEW and a private incident: the list shows both (the private one as id,
    severity and phase only), the P0's page its timeline, its §8 ledger and its compliance card
    (acknowledged and fixed in time: kept) with links
    to the bridge and the Temporal UI, typed markup shown as text; the quarter's page sums the
    cards; no token, 401; and reading them sends neither incident any signal or update."""
    env, ui_url = ui_env
    group = uuid.uuid4().hex[:8]
    loud = delivery(
        alert(module="auth", scope="all", summary="Schools report login failures"), group=f"Pages-{group}"
    )
    quiet = delivery(
        alert(module="fees", summary="Fee records of school-42 exposed", data_at_risk="true"),
        group=f"PagesPrivate-{group}",
    )
    async with run_worker(env.client) as tq:
        public = await deliver_alerts(env.client, tq, AlertmanagerDelivery.model_validate(loud))
        private = await deliver_alerts(env.client, tq, AlertmanagerDelivery.model_validate(quiet))
        handle = env.client.get_workflow_handle(public.incident_id)
        hidden = env.client.get_workflow_handle(private.incident_id)
        await status_when(handle, lambda s: s.channel)
        await status_when(hidden, lambda s: s.channel and s.private)
        await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
        await handle.signal(
            "post_update",
            {
                "by": "asha.rao@preskool.com",
                "status": "ONGOING",
                "current_action": "Rolling back <b>auth</b>",
                "what_we_know": "Bad deploy",
            },
        )
        await status_when(handle, lambda s: s.acknowledged_by and any(e.kind == "update" for e in s.timeline))
        await handle.signal("mitigate", {"by": "ben.okafor@preskool.com", "summary": "Rolled back"})
        await status_when(handle, lambda s: s.phase == "FIX")
        resolve = {
            "by": "asha.rao@preskool.com",
            "summary": "Rolled back",
            "force_reason": "verified by hand",
        }
        await handle.signal("resolve", resolve)
        await status_when(handle, lambda s: s.phase == "REVIEW" and s.deliverables)
        before = (await inputs(handle), await inputs(hidden))

        app = create_app(
            token=SecretStr(TOKEN), task_queue=tq, connect=lambda: _client(env), temporal_ui=ui_url
        )
        async with serving(app) as base:
            context = await browser.new_context(viewport=webui.VIEWPORT, extra_http_headers=AUTH)
            page = await context.new_page()
            page.set_default_timeout(webui.UI_TIMEOUT.total_seconds() * 1000)
            await page.goto(f"{base}/ui/", wait_until="load")
            rows = page.get_by_role("row")
            loud_row = rows.filter(has_text=public.incident_id)
            await expect(loud_row).to_contain_text("Schools report login failures")
            await expect(loud_row).to_contain_text("P0")
            quiet_row = rows.filter(has_text=private.incident_id)
            await expect(quiet_row).to_contain_text("private incident")
            await expect(quiet_row).not_to_contain_text("school-42")
            await webui.screenshot(page, shots / "ui-pages-incidents.png")

            await page.get_by_role("link", name=public.incident_id).click()
            await expect(page.get_by_role("heading", level=1)).to_contain_text(public.incident_id)
            ack = page.locator('tr[data-key="acknowledge"]')
            await expect(ack).to_contain_text("✓ kept")
            await expect(ack).to_contain_text("Acknowledge within 2 minutes")
            await expect(page.locator(".timeline")).to_contain_text("Rolling back <b>auth</b>")
            await expect(page.locator('tr[data-key="fix"]')).to_contain_text("✓ kept")
            await expect(page.locator(".ledger")).to_contain_text("pending")
            assert await page.locator(".timeline b").count() == 0
            bridge = page.get_by_role("link", name=re.compile("^The bridge"))
            assert "slack.com/app_redirect?channel=" in await bridge.get_attribute("href")
            temporal = await page.get_by_role("link", name="In the Temporal UI").get_attribute("href")
            assert await page.locator("form, script, input, button").count() == 0
            await webui.screenshot(page, shots / "ui-pages-incident.png")

            await page.goto(temporal, wait_until="load")  # the link opens the incident in Temporal's UI
            await expect(page.get_by_role("heading", level=1)).to_contain_text(public.incident_id)

            await page.goto(f"{base}/ui/incidents/{private.incident_id}", wait_until="load")
            await expect(page.locator("main")).to_contain_text("A private incident (need-to-know)")
            await expect(page.locator("main")).not_to_contain_text("school-42")

            await page.goto(f"{base}/ui/report", wait_until="load")
            await quarter_shown(page, public.incident_id, private.incident_id, shots)
            await context.close()

            stranger = await browser.new_context()
            refused = await (await stranger.new_page()).goto(f"{base}/ui/", wait_until="load")
            assert refused.status == 401
            await stranger.close()

            async with httpx.AsyncClient(base_url=base, headers=AUTH) as http:
                missing = await http.get("/ui/incidents/%3Cb%3Enone")
                too_long = await http.get("/ui/incidents/" + "x" * 2000)
            assert missing.status_code == 404 and "no incident &lt;b&gt;none" in missing.text
            assert too_long.status_code == 404, too_long.text

        after = (await inputs(handle), await inputs(hidden))
        await finish(handle)
        await finish(hidden)
    assert before[0] and after == before  # the acknowledgement and the update, and nothing since


async def quarter_shown(page, resolved: str, unresolved: str, shots) -> None:
    """/ui/report: the quarter's report with its charts (reporting/html.py) under our header, its
    own stylesheet and ours both allowed by the page's CSP."""
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Compliance report")
    await expect(page.get_by_role("row").filter(has_text=resolved).last).to_contain_text("P0")
    charts = page.locator('img[src^="data:image/png;base64,"]')
    await expect(charts.first).to_be_visible()
    assert await charts.count() >= 3
    assert all(await charts.evaluate_all("imgs => imgs.map(i => i.naturalWidth > 0)"))
    header = page.locator("header.irp")
    await expect(header).to_contain_text("Incidents")
    await expect(header).to_have_css("background-color", "rgb(29, 35, 48)")  # our stylesheet ran
    await expect(page.locator("th").first).to_have_css("background-color", "rgb(244, 244, 244)")  # theirs
    await webui.screenshot(page, shots / "ui-pages-report.png")


async def _client(env):
    return env.client

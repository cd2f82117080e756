"""The real Temporal Web UI (the dev server's) in Debian's Chromium: a person signals an incident from
the browser, as the README tells them to, and the workflow acts on it. `make screenshots` writes
the README's pictures to docs/images/."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

pytest.importorskip("playwright", reason="playwright is not installed (pip install -e '.[test]')")

from connection.search_attributes import register_search_attributes  # noqa: E402
from incident_client.intake import deliver_alerts  # noqa: E402
from plan import AlertmanagerDelivery  # noqa: E402
from tests import webui  # noqa: E402
from tests.conftest import binary  # noqa: E402
from tests.helpers import eventually, finish, status_when  # noqa: E402
from tests.payloads import alert, delivery  # noqa: E402
from tests.processes import free_port  # noqa: E402

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

"""Drive the real Temporal Web UI (the dev server's, UI 2.54) in Debian's Chromium via Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (apt-get install chromium;
.ci/run does it). Never run `playwright install`. The UI polls, so pages are awaited with
wait_until="load" and then on what they show; "networkidle" never comes.

    async with chromium() as browser:
        page = await new_page(browser)
        await send_signal_in_ui(page, ui_url, "default", workflow_id, "acknowledge",
                                '{"by": "ben.okafor@preskool.com"}', screenshot_to=IMAGES / "x.png")
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from playwright.async_api import Browser, Locator, Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
VIEWPORT = {"width": 1400, "height": 900}
UI_TIMEOUT = timedelta(seconds=10)
SIGNAL_SENT = "Workflow signaled."  # the toast once the server took the signal (also in an aria-live region)
expect.set_options(timeout=UI_TIMEOUT.total_seconds() * 1000)


def chromium_missing(executable: str = CHROMIUM) -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        return "Debian's chromium is not installed (.ci/run installs it)"
    return None


@asynccontextmanager
async def chromium(executable: str = CHROMIUM) -> AsyncIterator[Browser]:
    """A headless Debian Chromium, closed on exit (and Playwright's driver with it)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> Page:
    page = await browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(UI_TIMEOUT.total_seconds() * 1000)
    return page


def workflow_url(ui_url: str, namespace: str, workflow_id: str) -> str:
    return (
        f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"
    )


async def open_workflow(page: Page, ui_url: str, namespace: str, workflow_id: str) -> None:
    """The workflow's page, once it shows the workflow (its id is the page's heading)."""
    await page.goto(workflow_url(ui_url, namespace, workflow_id), wait_until="load")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(workflow_id)


async def screenshot(target: Page | Locator, path: Path) -> Path:
    """Write a PNG (overwriting), making its folder; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    await target.screenshot(path=str(path))
    return path


async def _choose_signal(page: Page, dialog: Locator, signal_name: str) -> None:
    """The name field is a select of the workflow's signals (from its metadata, which the worker
    answers) with a "Custom" entry, or a plain text input when the UI has no metadata."""
    select = dialog.get_by_test_id("signal-select-button")
    try:
        await select.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:  # no worker answered the metadata query: a plain input
        await dialog.get_by_test_id("signal-name").fill(signal_name)
        return
    await select.click()
    listed = dialog.get_by_role("option").filter(has=page.get_by_text(signal_name, exact=True))
    try:
        await listed.click(timeout=2_000)
    except PlaywrightTimeout:  # not declared in the metadata (e.g. a dynamic handler)
        await dialog.get_by_role("option").filter(has=page.get_by_text("Custom", exact=True)).click()
        await dialog.get_by_test_id("signal-name").fill(signal_name)
        return
    await expect(dialog.get_by_test_id("signal-select")).to_have_value(signal_name)


async def _type_json(page: Page, dialog: Locator, json_text: str) -> None:
    """The Data field is a CodeMirror editor: focus it, replace its text (insert_text, so no
    auto-closed brackets), then check it holds the same JSON."""
    editor = dialog.get_by_role("textbox", name="Data")
    await editor.click()
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.insert_text(json_text)
    typed = await editor.inner_text()
    try:
        same = json.loads(typed) == json.loads(json_text)
    except ValueError:
        same = False
    if not same:
        raise AssertionError(f"the Data editor holds {typed!r}, not {json_text!r}")


async def send_signal_in_ui(
    page: Page,
    ui_url: str,
    namespace: str,
    workflow_id: str,
    signal_name: str,
    json_text: str,
    *,
    screenshot_to: Path | None = None,
) -> None:
    """Open the workflow in the Web UI, "More Actions" → "Send a Signal", choose the signal, type its
    JSON, (screenshot the filled-in dialog,) Submit, and wait for the UI's "Workflow signaled."."""
    json.loads(json_text)  # fail here, not in the UI, on a typo in the test
    await open_workflow(page, ui_url, namespace, workflow_id)
    await page.get_by_role("button", name="More Actions").click()
    await page.get_by_role("menuitem", name="Send a Signal").click()
    dialog = page.get_by_role("dialog", name="Send a Signal")
    await expect(dialog).to_be_visible()
    await _choose_signal(page, dialog, signal_name)
    await _type_json(page, dialog, json_text)
    submit = dialog.get_by_role("button", name="Submit")
    await expect(submit).to_be_enabled()
    if screenshot_to:
        await screenshot(page, screenshot_to)
    await submit.click()
    try:
        await expect(page.get_by_text(SIGNAL_SENT).filter(visible=True).first).to_be_visible()
    except AssertionError as e:
        shown = await dialog.inner_text() if await dialog.is_visible() else ""
        raise AssertionError(
            f"the UI did not confirm the {signal_name} signal; the dialog shows: {shown!r}"
        ) from e
    await expect(dialog).to_be_hidden()


async def query_in_ui(page: Page, query_name: str) -> str:
    """On an open workflow page: the Queries tab, choose `query_name`, run it without an argument,
    and return the result the UI shows (formatted JSON; the editor renders the first screenful)."""
    await page.get_by_role("tab", name="Queries").click()
    await page.get_by_test_id("query-select-button").click()
    await page.get_by_role("option").filter(has=page.get_by_text(query_name, exact=True)).click()
    run = page.get_by_role("button", name=re.compile(r"^(Run|Refresh) Query$"))  # "Refresh" once it has run
    await run.click()
    result = page.get_by_role("textbox", name="Query Result")
    await expect(result).not_to_be_empty()
    await expect(run).to_be_enabled()  # disabled, with a spinner, while the query is in flight
    return await result.inner_text()

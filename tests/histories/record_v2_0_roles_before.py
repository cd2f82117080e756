"""Recorded tests/histories/v2.0/p1_roles_before.json on v2.0 code (main at 1de9053, before issue 23),
from a checkout of that commit: `python -m tests.histories.record_v2_0_roles_before OUT.json`. Kept
for the record; run on today's code it would record the patched path, so never into v2.0 again.
An incident whose roles change: a stranger refused as the Communications Lead, a person of the
roster given the secondary's role (no checklist then). tests/test_replay.py replays it, and checks
that it fails to replay with the `roles-anyone` patch taken as on."""

import asyncio
import json
import shutil
import sys
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connection.search_attributes import register_search_attributes
from plan import load_policy
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.settings import sandbox_settings
from sandbox.slack import SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from tests.helpers import finish, status_when
from tests.histories.record import fees_p1_opened
from worker import build_worker


async def main(out):
    policy = load_policy()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=shutil.which("temporal-test-server"), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    async with (
        SlackFake(channels=("general", "preskool-alerts")) as slack,
        PagerDutyFake() as pd,
        StatuspageFake() as sp,
        PrometheusFake() as prom,
        JiraFake() as jira,
        SmtpSandbox(ca=pd.ca) as smtp,
        env,
    ):
        settings = sandbox_settings(slack, pd, sp, prom, jira, smtp)
        async with build_worker(env.client, "record", policy, settings):
            handle = await fees_p1_opened(env.client, "record", "inc-golden-roles-before")
            ic = "asha.rao@preskool.com"
            await handle.signal(
                "assign_role",
                {"by": ic, "role": "communications_lead", "person": "zoe.nakamura@preskool.com"},
            )
            await handle.signal(
                "assign_role", {"by": ic, "role": "oncall_secondary", "person": "dana.whitfield@preskool.com"}
            )
            await status_when(
                handle,
                lambda s: (
                    any(e.kind == "role" for e in s.timeline) and any(e.kind == "refused" for e in s.timeline)
                ),
            )
            await finish(handle)
            history = await handle.fetch_history()
            Path(out).write_text(json.dumps(history.to_json_dict(), indent=1))
            print("recorded", len(history.events), "events", flush=True)


asyncio.run(main(sys.argv[1]))

"""The fakes in one process for the demo: prints one JSON line with where they listen, serves
until SIGTERM/SIGINT, and each fake shows what it received at GET /_sandbox/calls."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.slack import DEFAULT_TOKEN, SlackFake
from sandbox.statuspage import DEFAULT_KEY, DEFAULT_PAGE_ID, StatuspageFake


def _write(path: str, data: dict) -> None:
    """Atomically, so a reader never sees half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> int:
    slack, pagerduty = SlackFake(), PagerDutyFake()
    statuspage, prometheus = StatuspageFake(), PrometheusFake()
    await slack.start(args.host, args.slack_port)
    await pagerduty.start(args.host, args.pagerduty_port)
    await statuspage.start(args.host, args.statuspage_port)
    await prometheus.start(args.host, args.prometheus_port)
    info = {"slack_url": slack.url, "pagerduty_url": pagerduty.url, "ca_bundle": pagerduty.ca_pem_path,
            "slack_token": DEFAULT_TOKEN, "statuspage_url": statuspage.url, "statuspage_api_key": DEFAULT_KEY,
            "statuspage_page_id": DEFAULT_PAGE_ID, "prometheus_url": prometheus.url}
    if args.state_file:
        _write(args.state_file, info)
    print(json.dumps(info), flush=True)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()

    if args.state_file:  # what happened, for whoever looks after the sandbox is gone
        _write(args.state_file, {**info, "slack": slack.snapshot(), "pagerduty": pagerduty.snapshot(),
                                 "statuspage": statuspage.snapshot(), "prometheus": prometheus.snapshot()})
    for fake in (slack, pagerduty, statuspage, prometheus):
        await fake.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--slack-port", type=int, default=0)
    parser.add_argument("--pagerduty-port", type=int, default=0)
    parser.add_argument("--statuspage-port", type=int, default=0)
    parser.add_argument("--prometheus-port", type=int, default=0)
    parser.add_argument("--state-file", help="also write the startup JSON here; on exit, add what was received")
    return asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())

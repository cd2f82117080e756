"""`irp drill <scenario>` (`python -m devstack.drill_run`): rehearse a scenario (drills/*.yaml) on a
compressed clock (devstack/drill_runner.py, docs/drills.md).

    python -m devstack.drill_run p0-login-outage      # or: irp drill p0-login-outage
    python -m devstack.drill_run --list
    python -m devstack.drill_run p1-rollback --stack  # on a running drill stack (`make up`), live

Exit codes: 0 every promise kept; 1 the drill could not go on; 2 a bad scenario or command line;
3 a promise missed, or due and not done when the clock stopped."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from devstack.drill_scenario import ScenarioError, load_scenario, shipped

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); its exit code. The runner (Temporal,
    the fakes) is imported only when a drill runs: listing and checking a scenario stay quick."""
    p = argparse.ArgumentParser(prog="irp drill", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", help=f"a shipped scenario ({', '.join(shipped())}) or a YAML file")
    p.add_argument("--list", action="store_true", help="list the shipped scenarios")
    p.add_argument(
        "--stack",
        action="store_true",
        help="run on the drill stack `make up` runs (IRP_DRILL_SPEED_UP=10,1000 make up), on the "
        "incident's sped-up clock, where people join live; default: the time-skipping server",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("IRP_DATA_DIR") or ROOT / ".data"),
        help="the stack's data directory (IRP_DATA_DIR; default .data)",
    )
    args = p.parse_args(argv)
    if args.list or not args.scenario:
        for name in shipped():
            scenario = load_scenario(name)
            print(f"{name:<24} {scenario.title}")
        return 0 if args.list else 2
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from devstack.drill_runner import DrillError, run_drill, run_on_stack

    try:
        result = asyncio.run(run_on_stack(scenario, args.data_dir) if args.stack else run_drill(scenario))
    except DrillError as e:
        print(f"drill stopped: {e}", file=sys.stderr)
        return 1
    return 0 if not (result.card.missed or any(p.late_by for p in result.card.open)) else 3


if __name__ == "__main__":
    sys.exit(main())

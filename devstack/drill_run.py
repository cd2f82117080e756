"""`irp drill <scenario>` (`python -m devstack.drill_run`): rehearse a scenario (drills/*.yaml) on a
compressed clock (devstack/drill_runner.py, docs/drills.md).

    python -m devstack.drill_run p0-login-outage      # or: irp drill p0-login-outage
    python -m devstack.drill_run --list

Exit codes: 0 every promise kept; 1 the drill could not go on; 2 a bad scenario or command line;
3 a promise missed, or due and not done when the clock stopped."""

from __future__ import annotations

import argparse
import asyncio
import sys

from devstack.drill_scenario import ScenarioError, load_scenario, shipped


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); its exit code. The runner (Temporal,
    the fakes) is imported only when a drill runs: listing and checking a scenario stay quick."""
    p = argparse.ArgumentParser(prog="irp drill", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", help=f"a shipped scenario ({', '.join(shipped())}) or a YAML file")
    p.add_argument("--list", action="store_true", help="list the shipped scenarios")
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
    from devstack.drill_runner import DrillError, run_drill

    try:
        result = asyncio.run(run_drill(scenario))
    except DrillError as e:
        print(f"drill stopped: {e}", file=sys.stderr)
        return 1
    return 0 if not (result.card.missed or any(p.late_by for p in result.card.open)) else 3


if __name__ == "__main__":
    sys.exit(main())

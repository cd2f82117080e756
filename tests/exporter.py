"""A tiny exporter for the real-Prometheus tests: /metrics in the Prometheus text format, with the
series the §4.5 recovery checks query, at values the test sets.

Counters are computed from time: each grows at its configured rate per second since the last
change (`set`), so `rate()` over any window measures exactly what the test configured, and they
never go down. Every counter of one exporter shares that clock, so Prometheus extrapolates each
the same way and a ratio of two rates is exact."""

from __future__ import annotations

import time

from aiohttp import web

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
NAMESPACE = "preskool"


class Exporter:
    """`async with Exporter(...) as exporter:` serving on 127.0.0.1:<free port>.

    requests_per_second: all requests, per second.
    error_ratio: the share of them answered 500 (the rest 200).
    latency: cumulative share of requests at or under each bucket bound, e.g. {0.1: 0.9, 1.0: 1.0}
        (bounds not listed take the previous share; +Inf is always 1).
    pods: pod name → phase (kube-state-metrics style: one series per phase, 1 on the pod's own).
    expose_zero_errors: whether the code="500" series exists while it is 0, as client libraries that
        pre-initialise their labels do; most expose a code only once it has been seen."""

    def __init__(
        self,
        *,
        requests_per_second: float = 100.0,
        error_ratio: float = 0.0,
        latency: dict[float, float] | None = None,
        pods: dict[str, str] | None = None,
        expose_zero_errors: bool = True,
    ):
        self._since = time.monotonic()
        self._base: dict[str, float] = {}
        self._rates: dict[str, float] = {}
        self.pods: dict[str, str] = {}
        self.expose_zero_errors = expose_zero_errors
        self.scrapes = 0
        self.set(
            requests_per_second=requests_per_second,
            error_ratio=error_ratio,
            latency=latency or {0.1: 1.0},
            pods=pods or {"backend-0": "Running", "backend-1": "Running"},
        )
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # what the test controls ----------------------------------------------------------------------

    def set(
        self,
        *,
        requests_per_second: float,
        error_ratio: float,
        latency: dict[float, float],
        pods: dict[str, str],
    ) -> None:
        """New rates from now on; what the counters have counted so far stays counted."""
        now = time.monotonic()
        self._base = self._values(now)
        self._since = now
        share, cumulative = 0.0, {}
        for le in BUCKETS:
            share = latency.get(le, share)
            cumulative[le] = share
        self._rates = {
            "code=200": requests_per_second * (1 - error_ratio),
            "code=500": requests_per_second * error_ratio,
            **{f"le={le}": requests_per_second * cumulative[le] for le in BUCKETS},
            "le=+Inf": requests_per_second,
            "count": requests_per_second,
            "sum": requests_per_second * _mean(cumulative),
        }
        self.pods = dict(pods)

    def _values(self, now: float) -> dict[str, float]:
        elapsed = now - self._since
        return {k: self._base.get(k, 0.0) + rate * elapsed for k, rate in self._rates.items()}

    # the exposition --------------------------------------------------------------------------------

    def render(self) -> str:
        v = self._values(time.monotonic())
        ns = f'namespace="{NAMESPACE}"'
        lines = [
            "# HELP http_requests_total Requests served.",
            "# TYPE http_requests_total counter",
            f'http_requests_total{{{ns},code="200"}} {v["code=200"]}',
        ]
        if v["code=500"] > 0 or self.expose_zero_errors:
            lines.append(f'http_requests_total{{{ns},code="500"}} {v["code=500"]}')
        lines += [
            "# HELP http_request_duration_seconds Request latency.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        lines += [f'http_request_duration_seconds_bucket{{{ns},le="{le}"}} {v[f"le={le}"]}' for le in BUCKETS]
        lines += [
            f'http_request_duration_seconds_bucket{{{ns},le="+Inf"}} {v["le=+Inf"]}',
            f"http_request_duration_seconds_sum{{{ns}}} {v['sum']}",
            f"http_request_duration_seconds_count{{{ns}}} {v['count']}",
            "# HELP kube_pod_status_phase The pods current phase.",
            "# TYPE kube_pod_status_phase gauge",
        ]
        lines += [
            f'kube_pod_status_phase{{{ns},pod="{pod}",phase="{phase}"}} {int(phase == current)}'
            for pod, current in sorted(self.pods.items())
            for phase in PHASES
        ]
        return "\n".join(lines) + "\n"

    async def _metrics(self, request: web.Request) -> web.Response:
        self.scrapes += 1
        return web.Response(
            body=self.render().encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    # serving -----------------------------------------------------------------------------------------

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> Exporter:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _mean(cumulative: dict[float, float]) -> float:
    """A mean latency consistent with the buckets (each share at its bucket's upper bound)."""
    total, previous = 0.0, 0.0
    for le, share in cumulative.items():
        total += (share - previous) * le
        previous = share
    return total + (1 - previous) * BUCKETS[-1]

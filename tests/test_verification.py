"""§4.5 Resolve gate: the shipped policy's recovery checks, measured by the Prometheus fake over
real HTTP. The gate must fail for the right reason and say so in numbers a person reads."""

from __future__ import annotations

import math
import ssl

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.recovery import VerificationActivities, VerifyRecovery, describe, format_value
from activities.recovery.prometheus import Prometheus
from plan import load_policy
from plan.models import RecoveryCheck
from sandbox.prometheus import PrometheusFake
from tests.helpers import unconfigured

POLICY = load_policy()
ERROR_RATE, LATENCY, PODS = POLICY.recovery_checks
REQUEST = VerifyRecovery(incident_id="inc-3f2a9c1b7d10", checks=POLICY.recovery_checks)


@pytest_asyncio.fixture
async def prom():
    async with PrometheusFake() as fake:
        yield fake


def prometheus(fake: PrometheusFake) -> Prometheus:
    return Prometheus(fake.url, ssl.create_default_context())


async def verify(fake: PrometheusFake, request: VerifyRecovery = REQUEST):
    return await ActivityEnvironment().run(VerificationActivities(prometheus(fake)).verify_recovery, request)


async def test_the_gate_passes_when_every_check_holds(prom):
    prom.healthy(POLICY)
    verdict = await verify(prom)
    assert verdict.passed and [r.passed for r in verdict.results] == [True, True, True]
    assert [c.params["query"] for c in prom.calls] == [c.query for c in POLICY.recovery_checks]


async def test_the_gate_fails_and_shows_each_measured_value(prom):
    prom.set(ERROR_RATE.query, 0.024)
    prom.set(
        "http_request_duration_seconds_bucket", [({"pod": "backend-a"}, 0.21), ({"pod": "backend-b"}, 0.812)]
    )
    prom.set(PODS.query, 2)
    verdict = await verify(prom)
    assert not verdict.passed
    assert [(r.passed, r.value, r.detail) for r in verdict.results] == [
        (False, 0.024, "error rate 2.40% (needs < 0.1%)"),
        (False, 0.812, "P95 latency 812ms (needs < 500ms)"),  # the worst pod, not the first
        (False, 2.0, "2 pods not Running (needs all K8s pods Running)"),
    ]


async def test_unhealthy_fails_every_check(prom):
    prom.unhealthy(POLICY)
    verdict = await verify(prom)
    assert not verdict.passed and not any(r.passed for r in verdict.results)


async def test_no_data_counts_as_each_check_says(prom):
    for check in POLICY.recovery_checks:
        prom.set(check.query, None)
    verdict = await verify(prom)
    assert [(r.passed, r.value, r.detail) for r in verdict.results] == [
        (False, None, "no data (counts as fail)"),
        (False, None, "no data (counts as fail)"),
        (True, None, "no data (counts as pass)"),
    ]


async def test_no_traffic_is_nan_and_fails(prom):
    prom.healthy(POLICY)
    prom.set(ERROR_RATE.query, math.nan)  # 0/0: no requests in the window
    verdict = await verify(prom)
    assert not verdict.passed and verdict.results[0].detail == "error rate NaN (needs < 0.1%)"


async def test_bad_promql_is_final_with_prometheus_s_error(prom):
    prom.set(LATENCY.query, PrometheusFake.BAD)
    with pytest.raises(ApplicationError) as info:
        await verify(prom)
    assert (
        info.value.non_retryable and "bad_data" in info.value.message and "parse error" in info.value.message
    )


async def test_prometheus_unavailable_is_retried(prom):
    prom.fail_next("/api/v1/query", 503)
    with pytest.raises(ApplicationError) as busy:
        await verify(prom)
    await prom.stop()
    with pytest.raises(ApplicationError) as down:
        await verify(prom)
    assert not busy.value.non_retryable and "unavailable" in busy.value.message
    assert not down.value.non_retryable and "unreachable" in down.value.message


async def test_not_configured_is_skipped_and_not_passed():
    verdict = await ActivityEnvironment().run(unconfigured("verify_recovery"), REQUEST)
    assert not verdict.passed and verdict.skipped == "skipped: prometheus not configured"


async def test_query_reads_scalars_and_special_values(prom):
    prom.set("up", [({"job": "a"}, math.inf), ({"job": "b"}, 1e-05)])
    samples = await prometheus(prom).query("up")
    assert samples == [({"job": "a"}, math.inf), ({"job": "b"}, 1e-05)]
    assert prom.calls[0].response["data"]["result"][1]["value"][1] == "0.00001"  # as Prometheus writes it
    assert await prometheus(prom).query("0.5") == [({}, 0.5)]  # a number literal is a scalar
    async with httpx.AsyncClient() as http:  # Prometheus also takes the query form-encoded
        posted = (await http.post(prom.url + "/api/v1/query", data={"query": "up"})).json()
    assert posted["status"] == "success" and posted["data"]["resultType"] == "vector"
    assert await prometheus(prom).query("nothing_set_for_this") == []


def check(shown_as: str, name: str = "x") -> RecoveryCheck:
    return RecoveryCheck(name=name, query="q", op="<", threshold=1, shown_as=shown_as)


@pytest.mark.parametrize(
    "value, shown_as, text",
    [
        (0.024, "< 0.1%", "2.40%"),
        (0.0005, "< 0.1%", "0.05%"),
        (0.812, "< 500ms", "812ms"),
        (2.0, "< 1.5 s", "2"),
        (2.0, "all K8s pods Running", "2"),
        (0.25, "< 3 items", "0.25"),  # "items" ends in "ms" but is not milliseconds
        (math.nan, "< 0.1%", "NaN"),
        (math.inf, "< 500ms", "+Inf"),
    ],
)
def test_values_read_as_the_plan_states_them(value, shown_as, text):
    assert format_value(value, shown_as) == text


def test_a_count_reads_first_and_a_measure_reads_after_its_name():
    assert describe(check("all K8s pods Running", "pods not Running"), 3) == "3 pods not Running"
    assert describe(check("< 500ms", "P95 latency"), 0.2) == "P95 latency 200ms"

"""Prometheus's HTTP API for instant queries (GET or form-encoded POST /api/v1/query), answering
what a test told it to, in Prometheus's own envelope:

    {"status": "success", "data": {"resultType": "vector",
                                   "result": [{"metric": {...}, "value": [<unix time>, "<value>"]}]}}

Sample values are strings as Prometheus writes them ("0.024", "NaN", "+Inf"). A query that is a
number literal answers a scalar, as Prometheus does; a query nobody set answers an empty vector,
as a query for a series that does not exist does."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from sandbox.base import FakeServer

Answer = float | list[tuple[dict, float]] | None


def prom_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64), which Prometheus uses: no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def _margin(threshold: float) -> float:
    """How far from a threshold a healthy or unhealthy value sits: clearly on one side."""
    return abs(threshold) / 2 or 1.0


def _error(status: int, error_type: str, error: str) -> tuple[int, dict, dict]:
    return status, {"status": "error", "errorType": error_type, "error": error}, {}


class PrometheusFake(FakeServer):
    BAD = object()  # `fake.set(query, PrometheusFake.BAD)`: Prometheus cannot parse it

    def __init__(self, **kw):
        super().__init__(**kw)
        self.answers: dict[str, Any] = {}
        self.policy = None  # the policy whose recovery checks this Prometheus answers (healthy())

    # helpers for tests and the demo ----------------------------------------------------------

    def set(self, query_or_substring: str, answer: Answer | object) -> None:
        """A number (one sample without labels), a list of (labels, value), None (no series), or
        BAD. A query is answered by its exact entry, else by the longest entry it contains."""
        self.answers[query_or_substring] = answer

    def healthy(self, policy) -> None:
        """Every recovery check of `policy` (anything with `.recovery_checks`) passes; from now on
        `/_sandbox/answers` takes only keys found in its queries."""
        self.policy = policy
        for c in policy.recovery_checks:
            self.set(
                c.query,
                {"<": c.threshold - _margin(c.threshold), ">": c.threshold + _margin(c.threshold)}.get(
                    c.op, c.threshold
                ),
            )

    def unhealthy(self, policy) -> None:
        """Every recovery check of `policy` fails."""
        for c in policy.recovery_checks:
            below = c.op in (">", ">=")
            self.set(
                c.query, c.threshold - _margin(c.threshold) if below else c.threshold + _margin(c.threshold)
            )

    def answer_for(self, query: str) -> Any:
        if query in self.answers:
            return self.answers[query]
        inside = [key for key in self.answers if key and key in query]
        return self.answers[max(inside, key=len)] if inside else None

    def reset(self) -> None:
        super().reset()
        self.answers.clear()

    async def control(self, what: str, body: Any) -> web.Response:
        """POST /_sandbox/answers {"<query or part of one>": <value or null>}: what the demo's
        Prometheus says; a key found in none of the policy's recovery check queries is 400, with
        the queries (it would change nothing). POST /_sandbox/recovery {"healthy": false}: every
        check fails (true: every check passes again)."""
        if what == "recovery" and isinstance(body, dict) and isinstance(body.get("healthy"), bool):
            if self.policy is None:
                return web.json_response({"error": "this Prometheus knows no policy's checks"}, status=400)
            (self.healthy if body["healthy"] else self.unhealthy)(self.policy)
            return web.json_response({"answers": len(self.answers), "healthy": body["healthy"]})
        if what != "answers" or not isinstance(body, dict):
            return await super().control(what, body)
        queries = [c.query for c in self.policy.recovery_checks] if self.policy else []
        if unknown := [key for key in body if queries and not any(key in q for q in queries)]:
            why = f"no recovery check query contains {unknown[0]!r}: nothing would change"
            return web.json_response({"error": why, "queries": queries}, status=400)
        for query, value in body.items():
            self.set(query, value)
        return web.json_response({"answers": len(self.answers)})

    def snapshot(self) -> dict:
        shown = {q: "BAD" if a is self.BAD else a for q, a in self.answers.items()}
        return {**super().snapshot(), "answers": shown}

    # wire ------------------------------------------------------------------------------------

    async def parse(self, request: web.Request, raw: bytes) -> dict:
        params = dict(request.query)
        if raw and request.content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def fault_body(self, status: int) -> Any:
        if status == 503:
            return _error(503, "unavailable", "the sandbox was told to be unavailable")[1]
        return super().fault_body(status)

    async def handle(self, request: web.Request, params: dict) -> tuple[int, Any, dict]:
        if request.path != "/api/v1/query":
            return 404, "404 page not found\n", {}
        if request.method not in ("GET", "POST"):
            return 405, "Method Not Allowed\n", {}
        query = params.get("query", "").strip()
        if not query:
            return _error(
                400, "bad_data", 'invalid parameter "query": 1:1: parse error: no expression found in input'
            )
        answer, now = self.answer_for(query), round(time.time(), 3)
        if answer is self.BAD:
            where = f"1:{len(query)}"
            return _error(
                400, "bad_data", f'invalid parameter "query": {where}: parse error: unexpected end of input'
            )
        try:
            return (
                200,
                {
                    "status": "success",
                    "data": {"resultType": "scalar", "result": [now, prom_float(float(query))]},
                },
                {},
            )
        except ValueError:
            pass
        if answer is None:
            samples = []
        elif isinstance(answer, (int, float)):
            samples = [({}, answer)]
        else:
            samples = answer
        result = [{"metric": dict(labels), "value": [now, prom_float(value)]} for labels, value in samples]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}, {}

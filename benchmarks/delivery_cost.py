"""5. delivery cost: what one Alertmanager delivery costs Temporal, in bytes, for the delivery that
opens an incident and for each later one that joins it.

- on the wire: application bytes the receiver process sends to the Temporal frontend (`sent`) and
  gets back (`received`), counted by a loopback TCP proxy its TEMPORAL_ADDRESS points at;
- in history: the incident's history (protobuf ByteSize and events) after the first delivery and
  after 1 + N, so a joining delivery costs the difference / N.

It talks to the product only over HTTP (the receiver) and through the Temporal client, so the
same file measures any version of it. A warm-up delivery to another group first opens the
receiver's connection, so the first measured delivery does not pay the connection's setup."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History

from benchmarks.stack import TOKEN, tq
from tests.payloads import alert, delivery

CHUNK = 64 * 1024


class CountingProxy:
    """`async with CountingProxy("127.0.0.1:7233") as p:` a TCP proxy on 127.0.0.1 (p.address)
    counting bytes each way: `sent` (client → upstream) and `received` (upstream → client).
    Bounded: at most `limit` connections at once, reads of 64 KiB at most, each write drained."""

    def __init__(self, upstream: str, limit: int = 8):
        host, _, port = upstream.rpartition(":")
        self.upstream, self.limit = (host, int(port)), limit
        self.sent = self.received = self.connections = 0
        self.tasks: set[asyncio.Task] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> CountingProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for w in list(self.writers):
            w.close()  # each pump then reads EOF and its connection ends
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        for t in list(self.tasks):
            t.cancel()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.tasks) >= self.limit:
            writer.close()
            return
        task, ends = asyncio.current_task(), [writer]
        self.tasks.add(task)
        self.writers.add(writer)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            ends.append(up_writer)
            self.writers.add(up_writer)
            await asyncio.gather(
                self._pump(reader, up_writer, "sent"), self._pump(up_reader, writer, "received")
            )
        except OSError:
            pass
        finally:
            for w in ends:
                w.close()
                self.writers.discard(w)
            self.tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                setattr(self, counter, getattr(self, counter) + len(chunk))
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()  # the other direction then reads EOF and ends too


async def settled(handle, channel: bool = False, timeout: float = 60) -> None:
    """Until the workflow is quiet: (if `channel`) its `status` query shows a bridge channel, and for
    0.5 s no activity or workflow task pending and no new history event."""
    deadline, quiet, length = time.monotonic() + timeout, 0, -1
    while quiet < 5:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{handle.id} did not settle within {timeout} s")
        raw = (await handle.describe()).raw_description
        busy = (
            bool(raw.pending_activities)
            or raw.HasField("pending_workflow_task")
            or raw.workflow_execution_info.history_length != length
        )
        if channel and not busy:
            busy = not (await handle.query("status") or {}).get("channel")
        length = raw.workflow_execution_info.history_length
        quiet = 0 if busy else quiet + 1
        await asyncio.sleep(0.1)


async def history(handle) -> tuple[int, int, list]:
    """(protobuf bytes, events, the events) of the workflow's history."""
    events = list((await handle.fetch_history()).events)
    return History(events=events).ByteSize(), len(events), events


def by_type(events: list) -> dict[str, list[int]]:
    """{event type: [events, bytes]}, largest first."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        row = out[EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")]
        row[0] += 1
        row[1] += e.ByteSize()
    return dict(sorted(out.items(), key=lambda kv: -kv[1][1]))


async def run(stack, n: int) -> dict:
    """One group: a first delivery then `n` joining ones, POSTed one after another."""
    task_queue, tag = tq("delivery"), os.urandom(3).hex()
    worker = await stack.worker(task_queue)
    body = delivery(alert(severity="warning", module="reports", summary="delivery cost"), group=f"Cost{tag}")
    warm = delivery(alert(severity="warning", module="reports", summary="warm-up"), group=f"CostWarm{tag}")
    async with CountingProxy(stack.address) as proxy:
        hook, url = await stack.webhook(task_queue, TEMPORAL_ADDRESS=proxy.address)
        try:
            async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as h:

                async def post(b: dict) -> dict:
                    r = await h.post(url + "/webhooks/alertmanager", json=b)
                    assert r.status_code == 202, r.text
                    return r.json()["incidents"][0]

                w = await post(warm)
                await settled(stack.client.get_workflow_handle(w["incident_id"]), channel=True)
                marks = [(proxy.sent, proxy.received)]

                t_first = time.perf_counter()
                first = await post(body)
                handle = stack.client.get_workflow_handle(first["incident_id"])
                await settled(handle, channel=True)
                marks.append((proxy.sent, proxy.received))
                h1 = await history(handle)

                t0 = time.perf_counter()
                for _ in range(n):
                    joined = await post(body)
                    assert joined["incident_id"] == first["incident_id"] and not joined.get("created"), joined
                    marks.append((proxy.sent, proxy.received))
                joins_s = time.perf_counter() - t0
                await settled(handle)
                marks[-1] = (proxy.sent, proxy.received)  # frames trailing the last answer count too
                h2 = await history(handle)
                measured_s = time.perf_counter() - t_first
        finally:
            for p in (hook, worker):
                p.stop()
                stack.procs.remove(p)
    sent = [
        b[0] - a[0] for a, b in zip(marks, marks[1:], strict=False)
    ]  # per delivery: [first, join 1, …, join n]
    received = [b[1] - a[1] for a, b in zip(marks, marks[1:], strict=False)]
    return {
        "joining_deliveries": n,
        "delivery_body_bytes": len(httpx.Request("POST", "/", json=body).content),
        "first_created": first["created"],
        "proxy_connections": proxy.connections,
        "joins_s": round(joins_s, 2),
        "first_to_last_history_s": round(measured_s, 1),
        "wire_connect_and_warmup_sent_bytes": marks[0][0],
        "wire_first_sent_bytes": sent[0],
        "wire_joining_sent_bytes_mean": round(sum(sent[1:]) / n, 1),
        "wire_joining_sent_bytes_min_max": [min(sent[1:]), max(sent[1:])],
        "wire_first_received_bytes": received[0],
        "wire_joining_received_bytes_mean": round(sum(received[1:]) / n, 1),
        "history_first_bytes": h1[0],
        "history_first_events": h1[1],
        "history_total_bytes": h2[0],
        "history_total_events": h2[1],
        "history_joining_bytes_mean": round((h2[0] - h1[0]) / n, 1),
        "history_joining_events_mean": round((h2[1] - h1[1]) / n, 2),
        "history_joining_by_type": by_type(h2[2][h1[1] :]),
    }

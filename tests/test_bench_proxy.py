"""The delivery-cost benchmark's counting proxy: bytes each way, refusal past its limit, clean exit."""

from __future__ import annotations

import asyncio

from benchmarks.delivery_cost import CountingProxy


async def echo_server() -> asyncio.Server:
    async def echo(reader, writer):
        while data := await reader.read(1024):
            writer.write(data.upper() + b"!")
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def test_counts_bytes_each_way_and_refuses_past_its_limit():
    server = await echo_server()
    upstream = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with CountingProxy(upstream, limit=1) as proxy:
        host, port = proxy.address.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"hello")
        await writer.drain()
        assert await reader.readexactly(6) == b"HELLO!"
        assert (proxy.sent, proxy.received, proxy.connections) == (5, 6, 1)

        r2, w2 = await asyncio.open_connection(host, int(port))  # a second one is past the limit
        assert await r2.read(10) == b""
        w2.close()
        writer.close()
    server.close()
    await server.wait_closed()

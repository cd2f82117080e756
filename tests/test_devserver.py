"""The embedded server counts as started only once its frontend answers the health check."""

from __future__ import annotations

from devstack import devserver
from tests.processes import free_port


async def test_health_check_tells_a_serving_server_from_nothing_listening(dev_env):
    port = int(dev_env.client.service_client.config.target_host.rsplit(":", 1)[1])
    assert devserver.healthy(port)
    assert not devserver.healthy(free_port())

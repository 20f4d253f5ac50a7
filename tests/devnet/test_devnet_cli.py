"""`pool-oracle devnet` as a user runs it: starts in seconds, serves, stops on a signal, frees its ports."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from oracle.devnet.anvil import free_port

pytestmark = pytest.mark.e2e


def exe() -> list[str]:
    script = Path(sys.executable).parent / "pool-oracle"
    return [str(script)] if script.exists() else [sys.executable, "-m", "oracle.cli"]


def port_is_free(port: int) -> bool:
    """Whether a server could bind the port now (as servers do, past TIME_WAIT connections)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_devnet_starts_serves_and_stops(tmp_path: Path, sig: signal.Signals) -> None:
    beacon, rpc = free_port(), free_port()
    config = tmp_path / "devnet.yaml"
    proc = subprocess.Popen(
        [*exe(), "devnet", "--beacon-port", str(beacon), "--rpc-port", str(rpc), "--slot-seconds", "1",
         "--write-config", str(config), "--no-random-events"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = []
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("running"):
                break
            assert time.monotonic() < deadline, "devnet did not start"
        text = "".join(banner)
        assert f"http://127.0.0.1:{beacon}" in text and "FEEDER_ROLE" in text
        head, deadline = 0, time.monotonic() + 10
        while head < 2 and time.monotonic() < deadline:  # slots advance on the wall clock
            with urllib.request.urlopen(f"http://127.0.0.1:{beacon}/eth/v1/node/syncing", timeout=5) as response:
                head = int(json.load(response)["data"]["head_slot"])
            time.sleep(0.2)
        assert head >= 2
        written = yaml.safe_load(config.read_text())
        assert written["beacon_endpoints"] == [f"http://127.0.0.1:{beacon}"]
        key_file = Path(written["signer"]["key_file"])
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert "0x59c6995e" not in config.read_text()  # the key stays out of the config text
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
        rest = proc.stdout.read()
        assert "devnet stopped" in rest
        assert port_is_free(beacon) and port_is_free(rpc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*exe(), "devnet", "--rpc-port", str(port), "--beacon-port", str(free_port())],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"pool-oracle devnet: error: RPC port 127.0.0.1:{port} is already in use; pick another"
    )


def test_missing_anvil_is_a_clear_error(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, POOL_ORACLE_ANVIL=str(tmp_path / "no-anvil"))
    result = subprocess.run(
        [*exe(), "devnet", "--rpc-port", str(free_port()), "--beacon-port", str(free_port())],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().endswith("no-anvil is not a file")
    assert result.stderr.count("\n") == 1


def test_anvil_does_not_outlive_a_killed_devnet(tmp_path: Path) -> None:
    beacon, rpc = free_port(), free_port()
    proc = subprocess.Popen(
        [*exe(), "devnet", "--beacon-port", str(beacon), "--rpc-port", str(rpc), "--no-random-events"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("running"):
            break
    assert not port_is_free(rpc)  # anvil is serving
    proc.kill()  # SIGKILL: no signal handler, no stop()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while not port_is_free(rpc):
        assert time.monotonic() < deadline, "anvil outlived the devnet that started it"
        time.sleep(0.2)

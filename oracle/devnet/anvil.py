"""anvil as a child process: started on a port of choice, stopped with its port freed."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from oracle.devnet.tools import anvil_path


def _die_with_parent() -> None:
    """In the child before exec: have Linux send SIGTERM when the devnet process dies, however it dies
    (a crash or SIGKILL skips stop()), so that no orphaned anvil keeps its port."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DevnetError(RuntimeError):
    """A devnet that cannot start: one line saying why."""


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise DevnetError(f"{what} port {host}:{port} is already in use; pick another") from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Anvil:
    host: str
    port: int
    chain_id: int
    genesis_timestamp: int
    balance_ether: int = 100_000_000
    genesis_number: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, timeout: float = 20.0) -> None:
        ensure_port_free(self.host, self.port, "RPC")
        binary = anvil_path()
        command = [
            str(binary),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--timestamp",
            str(self.genesis_timestamp),
            "--balance",
            str(self.balance_ether),
            "--number",
            str(self.genesis_number),
            "--no-mining",  # one EL block per beacon slot, mined by the devnet
            "--silent",
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    err = (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")
                    raise DevnetError(f"anvil exited with code {self.process.returncode}: {err.strip()[:300]}")
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                    async with session.post(self.url, json=payload, timeout=aiohttp.ClientTimeout(total=1)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        self.stop()
        raise DevnetError(f"anvil did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def anvil_version() -> str:
    binary: Path = anvil_path()
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()[0].strip()

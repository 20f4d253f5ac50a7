"""The metrics and health server: /metrics (Prometheus), /healthz (the loop is alive: a cycle ended within
the watchdog window) and /readyz (endpoints reachable and synced at the last check)."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from oracle.config.loading import split_host_port
from oracle.metrics import REGISTRY


@dataclass
class Health:
    """Times are monotonic: a host clock set forward (NTP, a skewed VM) must not look like a stuck loop."""

    watchdog_seconds: float
    started: float = field(default_factory=time.monotonic)
    last_cycle_end: float | None = None
    cycle_started: float | None = None
    ready: bool = False
    ready_reason: str = "no cycle has run yet"
    mode: str = "starting"

    def alive(self, now: float | None = None) -> tuple[bool, str]:
        now = time.monotonic() if now is None else now
        if self.cycle_started is not None and now - self.cycle_started > self.watchdog_seconds:
            return False, f"a cycle has been running for {now - self.cycle_started:.0f} s"
        reference = self.last_cycle_end or self.started
        if now - reference > self.watchdog_seconds:
            return False, f"no cycle has ended for {now - reference:.0f} s"
        return True, "ok"


def build_app(health: Health) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        ok, reason = health.alive()
        return web.json_response({"status": "ok" if ok else "failing", "reason": reason, "mode": health.mode},
                                 status=200 if ok else 503)  # fmt: skip

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ready" if health.ready else "not ready", "reason": health.ready_reason},
                                 status=200 if health.ready else 503)  # fmt: skip

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class ServiceError(Exception):
    """The service cannot start (its address is taken): one line, exit 2."""


async def serve(health: Health, address: str) -> web.AppRunner:
    """Serve on host:port or [IPv6]:port; ServiceError, one line, if the address cannot be bound."""
    parsed = split_host_port(address)
    if parsed is None:
        raise ServiceError(f"metrics address {address!r} is not host:port")
    host, port = parsed
    runner = web.AppRunner(build_app(health), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = "the address is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or type(exc).__name__
        raise ServiceError(f"cannot serve /metrics and /healthz on {address} ({reason}): "
                           "set service.metrics_address or --metrics-address") from None  # fmt: skip
    return runner

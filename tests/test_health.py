"""The liveness watchdog behind /healthz: a loop that stops ending cycles is reported; a host clock that jumps
is not (a liveness probe would restart a healthy daemon)."""

from __future__ import annotations

import time

import pytest

from oracle.service.http import Health

pytestmark = pytest.mark.unit


def test_a_wall_clock_jump_is_not_a_stuck_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    health = Health(watchdog_seconds=60)
    health.last_cycle_end = time.monotonic()
    wall = time.time
    monkeypatch.setattr(time, "time", lambda: wall() + 3600)  # NTP steps the clock an hour forward
    assert health.alive() == (True, "ok")


def test_a_loop_that_stops_ending_cycles_is_reported() -> None:
    health = Health(watchdog_seconds=60)
    health.last_cycle_end = time.monotonic()
    alive, reason = health.alive(now=health.last_cycle_end + 61)
    assert not alive and reason == "no cycle has ended for 61 s"
    health.cycle_started = health.last_cycle_end + 1
    alive, reason = health.alive(now=health.cycle_started + 90)
    assert not alive and reason == "a cycle has been running for 90 s"

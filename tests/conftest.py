from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# The first run compiles the hashing kernel (cached afterwards); don't let that count against deadlines.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session", autouse=True)
def _warm_kernel() -> None:
    from oracle.ssz.hashing import warm_up

    warm_up()

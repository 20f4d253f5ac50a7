"""Fault injection for the crash tests: with POOL_ORACLE_CRASH_AT=<point>, the process kills itself with
SIGKILL when it reaches that point, exactly as `kill -9` would, so a test can prove the journal resumes
without a duplicate or a lost transaction. Unset in production: then this is a no-op."""

from __future__ import annotations

import os
import signal

POINTS = ("after_prepare", "after_sign", "after_broadcast", "after_receipt")


def crash_point(name: str) -> None:
    if os.environ.get("POOL_ORACLE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)

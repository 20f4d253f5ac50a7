"""Fault injection for the end-to-end tests. With POOL_ORACLE_CRASH_AT=<point>, the process kills itself with
SIGKILL when it reaches that point, exactly as `kill -9` would, so a test can prove the journal resumes
without a duplicate or a lost transaction. With POOL_ORACLE_PAUSE_AT=<point> it waits there for
POOL_ORACLE_PAUSE_SECONDS, so a test can change the chain at that moment. Unset in production: no-ops."""

from __future__ import annotations

import asyncio
import os
import signal

POINTS = ("after_prepare", "after_sign", "after_broadcast", "after_receipt")


def crash_point(name: str) -> None:
    if os.environ.get("POOL_ORACLE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


async def pause_point(name: str) -> None:
    if os.environ.get("POOL_ORACLE_PAUSE_AT") == name:
        await asyncio.sleep(float(os.environ.get("POOL_ORACLE_PAUSE_SECONDS", "5")))

"""Fault injection for the end-to-end tests. With POOL_ORACLE_CRASH_AT=<point>, the process kills itself with
SIGKILL when it reaches that point, exactly as `kill -9` would, so a test can prove the journal resumes
without a duplicate or a lost transaction. With POOL_ORACLE_PAUSE_AT=<point> it waits there for
POOL_ORACLE_PAUSE_SECONDS, so a test can change the chain at that moment. POOL_ORACLE_CRASH_SKIP=<n> lets
the point pass n times first (a crash at the third transaction of a batched report, say). Unset in
production: no-ops."""

from __future__ import annotations

import asyncio
import os
import signal

POINTS = ("after_prepare", "after_sign", "after_broadcast", "after_receipt")


_passed: dict[str, int] = {}


def crash_point(name: str) -> None:
    if os.environ.get("POOL_ORACLE_CRASH_AT") == name:
        passed = _passed.get(name, 0)
        _passed[name] = passed + 1
        if passed >= int(os.environ.get("POOL_ORACLE_CRASH_SKIP", "0")):
            os.kill(os.getpid(), signal.SIGKILL)


async def pause_point(name: str) -> None:
    if os.environ.get("POOL_ORACLE_PAUSE_AT") == name:
        await asyncio.sleep(float(os.environ.get("POOL_ORACLE_PAUSE_SECONDS", "5")))

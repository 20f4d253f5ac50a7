from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from web3.exceptions import ContractCustomError

from oracle.devnet.anvil import free_port
from oracle.devnet.network import Devnet, DevnetConfig
from oracle.devnet.tools import ToolMissing, anvil_path


def _anvil_or_skip() -> None:
    try:
        anvil_path()
    except ToolMissing as exc:  # pragma: no cover - make setup installs it
        pytest.fail(str(exc))


async def started(**overrides: Any) -> Devnet:
    _anvil_or_skip()
    settings: dict[str, Any] = {
        "beacon_port": free_port(),
        "rpc_port": free_port(),
        "slots_per_epoch": 4,
        "validators": 6,
        "pools": 2,
        "deposit_delay_slots": 3,
    }
    settings.update(overrides)
    devnet = Devnet(DevnetConfig(**settings))
    await devnet.start()
    await devnet.steps(3)
    return devnet


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=["beaconkit-electra", "ethereum-electra"])
async def devnet(request: pytest.FixtureRequest) -> AsyncIterator[Devnet]:
    net = await started(layout=request.param)
    yield net
    await net.stop()


async def revert_selector(call: Any, sender: str | None = None) -> str | None:
    """The 4-byte selector a call reverts with, or None if it succeeds."""
    try:
        await call.call({"from": sender} if sender else {})
    except ContractCustomError as exc:
        return str(exc.data)[:10]
    return None

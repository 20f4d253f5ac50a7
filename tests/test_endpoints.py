"""check_endpoints on its own: which beacon and EL endpoints a cycle may use, and which first-cycle facts
(genesis, slot time, the chain clock) it keeps, driven by stand-in nodes that fail in the ways real ones do."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from oracle.beacon.answers import EndpointError, Genesis, Syncing
from oracle.config.loading import load_settings
from oracle.reporting.context import CycleError
from oracle.reporting.endpoints import check_endpoints, probe_beacon

pytestmark = pytest.mark.unit
ROOT = b"\x42" * 32


class StandInNode:
    def __init__(self, label: str, root: bytes = ROOT, head: int = 100, distance: int = 0,
                 spec: dict[str, str] | None = None, spec_failures: int = 0) -> None:  # fmt: skip
        self.label, self.root, self.head, self.distance = label, root, head, distance
        self.spec_answer = spec if spec is not None else {"DEPOSIT_CHAIN_ID": "1", "SECONDS_PER_SLOT": "12"}
        self.spec_failures = spec_failures

    async def genesis(self, retry: bool = True) -> Genesis:
        return Genesis(1_606_824_023, self.root, b"\x00" * 4)

    async def syncing(self, retry: bool = True) -> Syncing:
        return Syncing(self.head, self.distance > 1, self.distance)

    async def spec(self, retry: bool = True) -> dict[str, str]:
        if self.spec_failures:
            self.spec_failures -= 1
            raise EndpointError(self.label, "spec", "HTTP 503", status=503, retryable=True)
        return self.spec_answer


class StandInEth:
    def __init__(self, chain_id: int, age: float) -> None:
        self._chain_id, self.age = chain_id, age

    @property
    def chain_id(self) -> Any:  # awaited, as web3's AsyncEth.chain_id is
        return asyncio.sleep(0, result=self._chain_id)

    async def get_block(self, tag: str) -> dict[str, int]:
        return {"number": 1000, "timestamp": int(time.time() - self.age)}


def endpoint(label: str, chain_id: int = 1, age: float = 5) -> Any:
    return SimpleNamespace(label=label, w3=SimpleNamespace(eth=StandInEth(chain_id, age)))


def context(tmp_path: Path, nodes: list[StandInNode], els: list[Any], root: str = "") -> Any:
    config = tmp_path / "c.yaml"
    config.write_text("chain_id: 1\nlayout: ethereum-electra\nbeacon_endpoints: [http://b:1]\n"
                      f"execution_endpoints: [http://e:1]\ngenesis_validators_root: '{root}'\n"
                      "contracts: {factory: '0x" + "11" * 20 + "'}\n")  # fmt: skip
    el = SimpleNamespace(endpoints=els, healthy=[])

    async def block(tag: Any) -> dict[str, int]:
        return {"number": 1000}

    el.block = block
    return SimpleNamespace(
        settings=load_settings(config, environ={}), layout=SimpleNamespace(family="ethereum"), beacon=nodes,
        healthy_beacon=[], genesis=None, seconds_per_slot=0, el=el, chain_clock=None,
        # Contracts already resolved, nothing new on chain since: resolve_contracts reads nothing more.
        factory="0x" + "11" * 20, gindex_checked_block=10**9, account=None,
    )  # fmt: skip


def test_a_spec_that_fails_once_leaves_no_fact_behind(tmp_path: Path) -> None:
    node = StandInNode("a", spec_failures=1)
    ctx = context(tmp_path, [node], [])
    with pytest.raises(EndpointError):
        asyncio.run(probe_beacon(ctx, node))  # type: ignore[arg-type]
    assert ctx.genesis is None and ctx.seconds_per_slot == 0  # not stored before the node passed
    assert asyncio.run(probe_beacon(ctx, node)) == 100  # type: ignore[arg-type]
    assert ctx.genesis.validators_root == ROOT and ctx.seconds_per_slot == 12


def test_the_reference_is_the_first_node_that_passes_not_the_first_that_answers(tmp_path: Path) -> None:
    other_network = StandInNode("x", root=b"\x13" * 32, spec={"DEPOSIT_CHAIN_ID": "5", "SECONDS_PER_SLOT": "12"})
    good, lagging = StandInNode("a"), StandInNode("b", head=60)
    ctx = context(tmp_path, [other_network, good, lagging], [endpoint("e")])
    asyncio.run(check_endpoints(ctx))
    assert ctx.genesis.validators_root == ROOT
    assert [n.label for n in ctx.healthy_beacon] == ["a"]  # x serves chain 5; b is 40 slots behind a
    # Next cycle, x says chain 1 but keeps its own genesis: set aside against the reference, every cycle.
    other_network.spec_answer = {"DEPOSIT_CHAIN_ID": "1", "SECONDS_PER_SLOT": "12"}
    asyncio.run(check_endpoints(ctx))
    assert [n.label for n in ctx.healthy_beacon] == ["a"]


def test_a_node_of_another_network_is_refused_even_alone_when_the_root_is_configured(tmp_path: Path) -> None:
    ctx = context(tmp_path, [StandInNode("x", root=b"\x13" * 32)], [endpoint("e")], root="0x" + ROOT.hex())
    with pytest.raises(CycleError, match="no usable beacon endpoint"):
        asyncio.run(check_endpoints(ctx))
    assert ctx.genesis is None


def test_an_ethereum_node_without_a_slot_time_is_refused(tmp_path: Path) -> None:
    ctx = context(tmp_path, [StandInNode("a", spec={"DEPOSIT_CHAIN_ID": "1", "SECONDS_PER_SLOT": "0"})], [])
    with pytest.raises(CycleError, match="no usable beacon endpoint"):
        asyncio.run(check_endpoints(ctx))
    assert ctx.seconds_per_slot == 0


def test_el_endpoints_of_another_chain_or_far_behind_are_set_aside_every_cycle(tmp_path: Path) -> None:
    els = [endpoint("other", chain_id=5), endpoint("stale", age=3600), endpoint("good", age=2)]
    ctx = context(tmp_path, [StandInNode("a")], els)
    for _ in range(2):
        asyncio.run(check_endpoints(ctx))
        assert [e.label for e in ctx.el.healthy] == ["good"]
        assert [e.head for e in els] == [-1, -1, 1000]  # as shown now: reads past a head ask the endpoint again
    timestamp, _ = ctx.chain_clock  # the chain's clock from the first endpoint that passed
    assert abs(timestamp - (time.time() - 2)) < 5
    ctx.el.endpoints = els[:2]
    with pytest.raises(CycleError, match="no usable execution endpoint"):
        asyncio.run(check_endpoints(ctx))

"""The devnet: anvil and the simulated beacon chain in lockstep, the reference contracts, the Beacon API.

Per beacon slot S with a block: the EL block of S is mined at S's timestamp carrying the EIP-4788 system
call with the root of the previous beacon block (so the root of slot S is keyed by the timestamp of the
EL block after it, as on a real chain); the beacon state of S then takes that block as its execution
payload; the block's deposit and withdrawal-request events feed the beacon chain; withdrawals the beacon
chain pays are credited on the EL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.contract import AsyncContract
from web3.types import TxParams, Wei

from oracle.devnet.anvil import Anvil, DevnetError, ensure_port_free
from oracle.devnet.beacon_api import BeaconApi
from oracle.devnet.beacon_roots import BEACON_ROOTS, BEACON_ROOTS_CODE, HISTORY_BUFFER_LENGTH, SYSTEM_ADDRESS
from oracle.devnet.chain import ChainConfig, Checkpoint, Payload, SimulatedChain
from oracle.devnet.compile import load_artifacts
from oracle.ssz.batches import registration_proof
from oracle.ssz.layouts import get_layout
from oracle.ssz.sample import GWEI_PER_ETH

ZERO_ADDRESS = "0x" + "00" * 20
BEACON_DEPOSIT = "0x4242424242424242424242424242424242424242"
WEI_PER_GWEI = 10**9
# anvil's default accounts (its well-known test mnemonic): 0 governs, 1 feeds, the rest are users.
ETH = 10**18
TEST_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
]


def tx_params(sender: str, value: int = 0, gas: int = 500_000) -> TxParams:
    return {"from": AsyncWeb3.to_checksum_address(sender), "value": Wei(value), "gas": gas}


@dataclass(frozen=True)
class DevnetConfig:
    layout: str = "beaconkit-electra"
    validators: int = 8
    pools: int = 2
    slot_seconds: int = 2
    host: str = "127.0.0.1"
    beacon_port: int = 5052
    rpc_port: int = 8545
    chain_id: int = 80087
    open_reporting: bool = False
    ownable_oracle: bool = False  # the Ownable oracle of the contract reference page (owner: the feeder key)
    finalization_delay_blocks: int | None = None  # WithdrawalVault's; None: the network's (129,600)
    seed: int = 0
    slots_per_epoch: int = 32
    deposit_delay_slots: int = 4
    withdrawal_delay_epochs: int = 1
    random_events: bool = False
    # Slots that POST /devnet/v1/reorg/{depth} may replace (Ethereum layouts); 0: no reorganisations. Each slot
    # keeps an anvil snapshot and a copy of the registry, so memory grows with the run: for tests.
    reorg_depth: int = 0
    rewards: bool = True  # Ethereum layouts: per-epoch rewards and penalties
    proof_api: bool = True  # beacon-kit's /bkit/v1/proof routes (off: as a node with its block store off)
    # Ethereum layouts: a many-validator ValidatorSetPool whose validators are the last N genesis validators.
    set_pool_validators: int = 0

    def __post_init__(self) -> None:
        if get_layout(self.layout).name not in ("beaconkit-electra", "ethereum-electra"):
            raise DevnetError(f"the devnet runs beaconkit-electra or ethereum-electra, not {self.layout}")
        if self.validators < 1 or not 0 <= self.pools <= self.validators:
            raise DevnetError(f"need 1+ validators and 0..validators pools, got {self.validators} and {self.pools}")
        if self.slot_seconds < 1:
            raise DevnetError("slot time must be a whole number of seconds, at least 1")
        if self.slots_per_epoch < 1 or self.deposit_delay_slots < 1 or self.withdrawal_delay_epochs < 1:
            raise DevnetError("slots per epoch and the deposit and withdrawal delays must be at least 1")
        if self.open_reporting and self.ownable_oracle:
            raise DevnetError("the Ownable oracle has no open-reporting switch; pick one")
        if self.finalization_delay_blocks is not None and self.finalization_delay_blocks < 0:
            raise DevnetError(f"the finalization delay is 0 blocks or more, got {self.finalization_delay_blocks}")
        if not self.proof_api and get_layout(self.layout).family != "beaconkit":
            raise DevnetError("--no-proof-api is for the beacon-kit layout (Ethereum layouts serve no /bkit routes)")
        if self.reorg_depth < 0:
            raise DevnetError(f"reorg depth must be 0 or more, got {self.reorg_depth}")
        if self.reorg_depth and get_layout(self.layout).family != "ethereum":
            raise DevnetError("beacon-kit has single-slot finality: reorganisations need --layout ethereum-electra")
        if self.set_pool_validators and get_layout(self.layout).family != "ethereum":
            raise DevnetError("--set-pool-validators needs --layout ethereum-electra (a many-validator pool)")
        if not 0 <= self.set_pool_validators <= self.validators - self.pools:
            raise DevnetError(
                f"--set-pool-validators {self.set_pool_validators} does not fit beside {self.pools} pools "
                f"in {self.validators} validators"
            )
        if self.beacon_port == self.rpc_port:
            raise DevnetError(f"the Beacon API and the RPC need different ports, both are {self.rpc_port}")


@dataclass
class Pool:
    validator_index: int
    pubkey: bytes
    staking_pool: str
    rewards_vault: str
    smart_operator: str


@dataclass(frozen=True)
class NetworkAmounts:
    """What the staking-pool contracts are deployed with. Berachain's are the documented ones (berachain/docs
    nodes/staking-pools: 10,000 BERA to register, 250,000 minimum effective balance, 10,000,000 maximum,
    129,600-block finalization delay; the 43,200-block cooldown from the published pools' constant); the
    Ethereum devnet's are scaled to 32 ETH validators."""

    first_deposit_wei: int
    min_cl_deposit_wei: int
    min_effective_balance_wei: int
    max_effective_balance_wei: int
    withdrawal_cooldown_blocks: int
    finalization_delay_blocks: int
    min_deposit_gwei: int  # the deposit contract's minimum


BERACHAIN_AMOUNTS = NetworkAmounts(10_000 * ETH, 10_000 * ETH, 250_000 * ETH, 10_000_000 * ETH, 43_200, 129_600,
                                   10_000 * GWEI_PER_ETH)  # fmt: skip
ETHEREUM_AMOUNTS = NetworkAmounts(1 * ETH, 1 * ETH, 16 * ETH, 2048 * ETH, 43_200, 129_600, GWEI_PER_ETH)
# anvil's first block number: above the cooldown, so that the genesis pools' thresholds can lie that far back.
GENESIS_BLOCK_NUMBER = 100_000
SET_POOL_REGISTRATION_BATCH = 100  # validators per registerValidators (~3M gas)
SET_POOL_FIRST_STAKE_WEI = 10 * ETH


@dataclass
class Contracts:
    factory: AsyncContract
    oracle: AsyncContract
    vault: AsyncContract
    deposit: AsyncContract
    abis: dict[str, Any] = field(default_factory=dict)
    set_pool: AsyncContract | None = None  # the ValidatorSetPool, with --set-pool-validators


class Devnet:
    def __init__(self, config: DevnetConfig) -> None:
        self.config = config
        self.genesis_time = int(time.time())  # slots run on the wall clock; run() catches up after set-up
        self.anvil = Anvil(
            config.host, config.rpc_port, config.chain_id, self.genesis_time - 120, genesis_number=GENESIS_BLOCK_NUMBER
        )
        self.amounts = ETHEREUM_AMOUNTS if get_layout(config.layout).family == "ethereum" else BERACHAIN_AMOUNTS
        if config.finalization_delay_blocks is not None:
            self.amounts = dataclasses.replace(self.amounts, finalization_delay_blocks=config.finalization_delay_blocks)
        self.w3 = AsyncWeb3(AsyncHTTPProvider(self.anvil.url, request_kwargs={"timeout": 30}))
        self.accounts = [Account.from_key(key) for key in TEST_KEYS]
        self.governance = self.accounts[0].address
        self.feeder = self.accounts[1].address
        self.user = self.accounts[2].address
        self.el_parent_slots: dict[int, int] = {}
        self.pools: list[Pool] = []
        self.chain: SimulatedChain | None = None
        self.contracts: Contracts | None = None
        self._runner: web.AppRunner | None = None
        self._setup_time = self.genesis_time - 100
        self._rng = np.random.default_rng(config.seed + 7)
        self.random_events = config.random_events
        self.dropped_exit_requests = 0  # full-exit requests the CL is to ignore (POST /devnet/v1/exit_requests/drop)
        self._lock = asyncio.Lock()
        # (anvil snapshot, chain checkpoint) taken before each of the last reorg_depth slots.
        self._reorg_points: deque[tuple[str, Checkpoint]] = deque(maxlen=max(config.reorg_depth, 1))

    @property
    def beacon_url(self) -> str:
        return f"http://{self.config.host}:{self.config.beacon_port}"

    @property
    def rpc_url(self) -> str:
        return self.anvil.url

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        ensure_port_free(self.config.host, self.config.beacon_port, "Beacon API")
        await self.anvil.start()
        try:
            await self._check_accounts()
            await self._install_beacon_roots()
            contracts = await self._deploy()
            self.chain = SimulatedChain(
                ChainConfig(
                    layout=self.config.layout,
                    validators=self.config.validators,
                    pools=self.config.pools,
                    slot_seconds=self.config.slot_seconds,
                    slots_per_epoch=self.config.slots_per_epoch,
                    deposit_delay_slots=self.config.deposit_delay_slots,
                    withdrawal_delay_epochs=self.config.withdrawal_delay_epochs,
                    genesis_time=self.genesis_time,
                    seed=self.config.seed,
                    rewards=self.config.rewards,
                ),
                withdrawal_vault=bytes.fromhex(contracts.vault.address[2:]),
                genesis_deposits=self.config.pools,  # each pool's initial deposit, made below
                set_pool=(bytes.fromhex(contracts.set_pool.address[2:]), self.config.set_pool_validators)
                if contracts.set_pool is not None
                else None,
            )
            await self._create_pools()
            await self._register_set_pool()
            el_deposits = await contracts.deposit.functions.depositCount().call()
            if el_deposits != self.chain.deposit_count:
                raise DevnetError(
                    f"set-up made {el_deposits} deposits, the CL genesis counts {self.chain.deposit_count}"
                )
            api = BeaconApi(self.chain, self.el_parent_slots, self.config.chain_id, self._switch_random_events,
                            self.reorg if self.config.reorg_depth else None,
                            proof_api=self.config.proof_api, drop_exit_requests=self._drop_exit_requests)  # fmt: skip
            self._runner = web.AppRunner(api.app(), access_log=None)
            await self._runner.setup()
            try:
                await web.TCPSite(self._runner, self.config.host, self.config.beacon_port).start()
            except OSError as exc:
                raise DevnetError(f"cannot serve the Beacon API on {self.beacon_url}: {exc.strerror}") from None
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.anvil.stop()
        with contextlib.suppress(Exception):
            await self.w3.provider.disconnect()

    async def run(self, stop: asyncio.Event) -> None:
        """Produce slots on the wall clock until `stop` is set."""
        assert self.chain is not None
        while not stop.is_set():
            next_time = self.chain.slot_time(self.chain.slot + 1)
            delay = next_time - time.time()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    break
            missed = self.random_events and self.chain.ethereum and self._rng.random() < 0.05
            await self.step(missed=missed)
            if self.random_events:
                await self._random_events()

    # -- RPC helpers -------------------------------------------------------------------------------------

    async def rpc(self, method: str, *params: Any) -> Any:
        response = await self.w3.provider.make_request(method, list(params))
        if "error" in response:
            raise DevnetError(f"{method} failed: {response['error']}")
        return response.get("result")

    async def _mine(self, timestamp: int) -> dict[str, Any]:
        await self.rpc("evm_setNextBlockTimestamp", timestamp)
        await self.rpc("evm_mine")
        block: dict[str, Any] = dict(await self.w3.eth.get_block("latest"))
        return block

    async def _mine_setup(self) -> None:
        self._setup_time += 1
        await self._mine(self._setup_time)

    async def _transact(self, call: Any, sender: str, value: int = 0) -> Any:
        tx_hash = await call.transact(tx_params(sender, value=value, gas=8_000_000))
        await self._mine_setup()
        receipt = await self.w3.eth.get_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise DevnetError(f"setup transaction {tx_hash.hex()} reverted")
        return receipt

    async def _check_accounts(self) -> None:
        available = {a.lower() for a in await self.w3.eth.accounts}
        for account in self.accounts:
            if account.address.lower() not in available:
                raise DevnetError(f"anvil does not hold the expected test account {account.address}")

    async def _install_beacon_roots(self) -> None:
        await self.rpc("anvil_setCode", BEACON_ROOTS, BEACON_ROOTS_CODE)
        await self.rpc("anvil_impersonateAccount", SYSTEM_ADDRESS)
        await self.rpc("anvil_setBalance", SYSTEM_ADDRESS, hex(10**30))

    async def _deploy(self) -> Contracts:
        artifacts = load_artifacts()["contracts"]
        layout = get_layout(self.config.layout)

        async def deploy(name: str, *args: Any) -> AsyncContract:
            artifact = artifacts[name]
            factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
            receipt = await self._transact(factory.constructor(*args), self.governance)
            deployed: AsyncContract = self.w3.eth.contract(
                address=AsyncWeb3.to_checksum_address(receipt["contractAddress"]), abi=artifact["abi"]
            )
            return deployed

        deposit_code = artifacts["BeaconDeposit"]["deployedBytecode"]
        await self.rpc("anvil_setCode", BEACON_DEPOSIT, deposit_code)
        slot = artifacts["BeaconDeposit"]["storageSlots"]["minDepositGwei"]
        minimum = "0x" + self.amounts.min_deposit_gwei.to_bytes(32).hex()
        await self.rpc("anvil_setStorageAt", BEACON_DEPOSIT, hex(slot), minimum)
        deposit = self.w3.eth.contract(
            address=AsyncWeb3.to_checksum_address(BEACON_DEPOSIT), abi=artifacts["BeaconDeposit"]["abi"]
        )
        a = self.amounts
        factory = await deploy(
            "StakingPoolContractsFactory",
            layout.pubkey_gindex(0),
            layout.withdrawal_credentials_gindex(0),
            layout.balance_gindex(0),
            a.first_deposit_wei,
            (a.min_cl_deposit_wei, a.min_effective_balance_wei, a.max_effective_balance_wei,
             a.withdrawal_cooldown_blocks),
        )  # fmt: skip
        if self.config.ownable_oracle:
            oracle = await deploy("OwnableAccountingOracle", self.feeder, factory.address)
        else:
            oracle = await deploy("AccountingOracle", self.governance, factory.address)
        vault = await deploy("WithdrawalVault", factory.address, a.finalization_delay_blocks,
                             self.withdrawal_flight_blocks)  # fmt: skip
        await self._transact(factory.functions.configure(oracle.address, vault.address), self.governance)
        if self.config.ownable_oracle:
            pass
        elif self.config.open_reporting:
            await self._transact(oracle.functions.setOpenReporting(True), self.governance)
        else:
            role = await oracle.functions.FEEDER_ROLE().call()
            await self._transact(oracle.functions.grantRole(role, self.feeder), self.governance)
        set_pool = None
        if self.config.set_pool_validators:
            # Owner: governance; reporter: the feeder key the daemon's devnet config signs with.
            set_pool = await deploy("ValidatorSetPool", self.governance, self.feeder, layout.gindex("validators"),
                                    layout.gindex("balances"), b"\x01")  # fmt: skip
        self.contracts = Contracts(factory, oracle, vault, deposit, {k: v["abi"] for k, v in artifacts.items()},
                                   set_pool)  # fmt: skip
        return self.contracts

    async def _create_pools(self) -> None:
        """The genesis pools go through the documented lifecycle before genesis: registered with the first
        deposit (the CL genesis already holds it and the rest of the validator's stake, so these setup blocks
        are not fed back to the beacon chain), then activated with proofs against the genesis block root,
        which reaches the active threshold. Their thresholds are then dated a cooldown back, as for pools
        that have run for days (anvil takes minutes to mine 43,200 blocks)."""
        assert self.chain is not None and self.contracts is not None
        factory = self.contracts.factory
        for index in self.chain.pool_indices():
            pubkey = bytes(self.chain.validators.pubkeys[index])
            credentials = bytes(self.chain.validators.withdrawal_credentials[index])
            call = factory.functions.deployStakingPoolContracts(
                pubkey, credentials, b"\x00" * 96, self.governance, self.governance
            )
            await self._transact(call, self.governance, value=self.amounts.first_deposit_wei)
            core = await factory.functions.getCoreContracts(pubkey).call()
            self.pools.append(Pool(index, pubkey, core[1], core[2], core[0]))
        if not self.pools:
            return
        # The genesis block root in the EIP-4788 contract, at a setup timestamp.
        await self.rpc("eth_sendTransaction", {"from": SYSTEM_ADDRESS, "to": BEACON_ROOTS, "gas": hex(100_000),
                                               "data": "0x" + self.chain.block_slot_root(0).hex()})  # fmt: skip
        await self._mine_setup()
        root_timestamp = self._setup_time
        slot = load_artifacts()["contracts"]["StakingPool"]["storageSlots"]["activeThresholdBlock"]
        for pool in self.pools:
            await self._transact(self.activation_call(pool.validator_index, 0, root_timestamp), self.governance)
            threshold = await self.pool_contract(pool).functions.activeThresholdBlock().call()
            backdated = max(0, threshold - self.amounts.withdrawal_cooldown_blocks)
            await self.rpc("anvil_setStorageAt", pool.staking_pool, hex(slot), "0x" + backdated.to_bytes(32).hex())

    async def _set_beacon_root(self, timestamp: int, root: bytes) -> None:
        """What EIP-4788's system call stores for the block at `timestamp`, written directly: a transaction
        mined in that block reads it whatever its place in the block (a system call runs before them all)."""
        ring = timestamp % HISTORY_BUFFER_LENGTH
        await self.rpc("anvil_setStorageAt", BEACON_ROOTS, hex(ring), "0x" + timestamp.to_bytes(32).hex())
        await self.rpc("anvil_setStorageAt", BEACON_ROOTS, hex(ring + HISTORY_BUFFER_LENGTH), "0x" + root.hex())

    async def _register_set_pool(self) -> None:
        """The ValidatorSetPool's genesis validators registered by its owner, in batches, each with one
        multiproof of their pubkeys and credentials against the genesis block root; then a first staker's
        deposit, so that shares exist."""
        assert self.chain is not None and self.contracts is not None
        pool = self.contracts.set_pool
        if pool is None:
            return
        state = self.chain.state(0)
        self._setup_time += 1
        timestamp = self._setup_time
        await self._set_beacon_root(timestamp, self.chain.block_slot_root(0))
        count = self.config.set_pool_validators
        indices = list(range(self.config.validators - count, self.config.validators))
        for first in range(0, count, SET_POOL_REGISTRATION_BATCH):
            proof = registration_proof(state, indices[first : first + SET_POOL_REGISTRATION_BATCH])
            call = pool.functions.registerValidators(timestamp, proof.validators_length, proof.indices, proof.pubkeys,
                                                     proof.witnesses)  # fmt: skip
            await self._transact(call, self.governance)
        await self._transact(pool.functions.deposit(self.user), self.user, value=SET_POOL_FIRST_STAKE_WEI)

    def activation_call(self, index: int, slot: int, timestamp: int) -> Any:
        """factory.activateStakingPool for validator `index`, with proofs from the state at `slot` (whose
        block root the EIP-4788 contract holds at `timestamp`), as install-helpers/activate.sh builds it."""
        assert self.chain is not None and self.contracts is not None
        state = self.chain.state(slot)
        layout = state.layout
        record = state.validator(index)
        _, pubkey_proof = state.prove(layout.pubkey_gindex(index))
        _, credentials_proof = state.prove(layout.withdrawal_credentials_gindex(index))
        leaf, balance_proof = state.prove(layout.balance_gindex(index))
        return self.contracts.factory.functions.activateStakingPool(
            (bytes(record["pubkey"]), bytes(record["withdrawal_credentials"]), state.balance(index), index),
            (list(pubkey_proof), list(credentials_proof), list(balance_proof), leaf),
            timestamp,
        )

    # -- slots -------------------------------------------------------------------------------------------

    async def step(self, missed: bool = False) -> int:
        """Produce the next slot now (a missed one on Ethereum layouts if asked); returns the new slot."""
        async with self._lock:
            chain = self.chain
            assert chain is not None and self.contracts is not None
            if self.config.reorg_depth:
                self._reorg_points.append((await self.rpc("evm_snapshot"), chain.checkpoint()))
            if missed:
                if not chain.ethereum:
                    raise DevnetError("beacon-kit has no missed slots")
                chain.advance(None)
                return chain.slot
            slot = chain.slot + 1
            timestamp = chain.slot_time(slot)
            parent_slot = chain.slot
            parent_root = chain.block_slot_root(parent_slot)
            # The EIP-4788 system call. Its place in the block does not matter (reads key on earlier
            # timestamps); a modest tip keeps eth_feeHistory realistic for the reporters' fee estimates.
            await self.rpc(
                "eth_sendTransaction",
                {
                    "from": SYSTEM_ADDRESS,
                    "to": BEACON_ROOTS,
                    "data": "0x" + parent_root.hex(),
                    "gas": hex(100_000),
                    "maxPriorityFeePerGas": hex(10**9),
                    "maxFeePerGas": hex(100 * 10**9),
                },
            )
            await self._set_beacon_root(timestamp, parent_root)
            block = await self._mine(timestamp)
            parent_block_slot = chain.latest_block_slot(parent_slot)
            assert parent_block_slot is not None
            self.el_parent_slots[timestamp] = parent_block_slot
            payload = Payload(
                block_hash=bytes(block["hash"]),
                block_number=int(block["number"]),
                timestamp=int(block["timestamp"]),
                parent_hash=bytes(block["parentHash"]),
                gas_limit=int(block["gasLimit"]),
                gas_used=int(block["gasUsed"]),
                base_fee_per_gas=int(block.get("baseFeePerGas", 0)),
            )
            withdrawals = chain.advance(payload)
            await self._follow_events(int(block["number"]))
            for withdrawal in withdrawals:
                address = AsyncWeb3.to_checksum_address("0x" + withdrawal.address.hex())
                balance = await self.w3.eth.get_balance(address)
                await self.rpc("anvil_setBalance", address, hex(balance + withdrawal.amount * WEI_PER_GWEI))
            return chain.slot

    async def reorg(self, depth: int) -> dict[str, Any]:
        """Replace the newest `depth` slots, as a reorganisation does: the EL goes back to the block before them
        (their transactions are dropped, not returned to the mempool: the harder case for a sender) and the
        beacon chain forgets their blocks. The run loop then produces those slots again, at once, with new
        blocks."""
        async with self._lock:
            chain = self.chain
            assert chain is not None
            if not self.config.reorg_depth:
                raise DevnetError("this devnet keeps no reorganisation points: start it with --reorg-depth")
            if not 1 <= depth <= len(self._reorg_points):
                raise DevnetError(f"reorg depth must be 1..{len(self._reorg_points)}, got {depth}")
            snapshot, point = self._reorg_points[-depth]
            el_block = await self.w3.eth.block_number
            try:
                forgotten = chain.rewind(point)
            except ValueError as exc:
                raise DevnetError(str(exc)) from None
            if not await self.rpc("evm_revert", snapshot):
                raise DevnetError(f"anvil could not revert to snapshot {snapshot}")
            for _ in range(depth):
                self._reorg_points.pop()
            return {"forgotten_slots": forgotten, "head_slot": chain.slot, "removed_blocks":
                    list(range(await self.w3.eth.block_number + 1, el_block + 1))}  # fmt: skip

    async def steps(self, count: int) -> int:
        slot = 0
        for _ in range(count):
            slot = await self.step()
        return slot

    async def _follow_events(self, block_number: int) -> None:
        assert self.chain is not None and self.contracts is not None
        for event in await self.contracts.deposit.events.Deposit.get_logs(
            from_block=block_number, to_block=block_number
        ):
            args = event["args"]
            self.chain.add_deposit(bytes(args["pubkey"]), bytes(args["credentials"]), int(args["amount"]))
        vault_events = await self.contracts.vault.events.ELWithdrawalTriggered.get_logs(
            from_block=block_number, to_block=block_number
        )
        for event in vault_events:
            index = self.chain.validator_index(bytes(event["args"]["pubkey"]))
            if index is not None and int(event["args"]["amount"]) == 0 and self.dropped_exit_requests > 0:
                self.dropped_exit_requests -= 1  # POST /devnet/v1/exit_requests/drop/{count}: a full queue
                continue
            if index is not None:
                self.chain.request_withdrawal(index, int(event["args"]["amount"]))
        # The audited contracts exit a validator only through the vault's EIP-7002 request (a withdrawal that
        # is the pool's full exit, or retryFullExit: amount 0), followed above. A report of 0 closes a pool
        # whose validator the CL has already exited, and asks the CL for nothing.

    # -- scripted EL activity (tests, demo) ---------------------------------------------------------------

    def pool_contract(self, pool: Pool) -> AsyncContract:
        assert self.contracts is not None
        contract: AsyncContract = self.w3.eth.contract(
            address=AsyncWeb3.to_checksum_address(pool.staking_pool), abi=self.contracts.abis["StakingPool"]
        )
        return contract

    async def stake(self, pool: Pool, amount_wei: int, sender: str | None = None) -> str:
        """A user deposit into a pool (mined with the next slot). Returns the transaction hash."""
        tx = (
            await self.pool_contract(pool)
            .functions.submit(sender or self.user)
            .transact(tx_params(sender or self.user, value=amount_wei))
        )
        return "0x" + tx.hex()

    async def top_up(self, pool: Pool, amount_wei: int, sender: str | None = None) -> str:
        """A deposit straight to the deposit contract for a pool's validator (an operator top-up): the CL
        balance grows without the pool booking it, so the oracle has something to report."""
        assert self.contracts is not None and self.chain is not None
        credentials = bytes(self.chain.validators.withdrawal_credentials[pool.validator_index])
        # The operator was named by the first deposit: later deposits must pass address(0).
        call = self.contracts.deposit.functions.deposit(pool.pubkey, credentials, b"\x00" * 96, ZERO_ADDRESS)
        tx = await call.transact(tx_params(sender or self.user, value=amount_wei))
        return "0x" + tx.hex()

    async def request_withdrawal(self, pool: Pool, amount_gwei: int, sender: str | None = None) -> str:
        assert self.contracts is not None
        call = self.contracts.vault.functions.requestWithdrawal(pool.pubkey, amount_gwei, 1)
        tx = await call.transact(tx_params(sender or self.user, value=1))
        return "0x" + tx.hex()

    async def register_pool(self, seed: int) -> bytes:
        """A new validator's pool, registered as install-helpers/register.sh does it: deployStakingPoolContracts
        with the first deposit (mined with the next slot), which names the pool's SmartOperator as the
        validator's operator. The CL adds the validator DEPOSIT_DELAY slots later; then `activate_pool`.
        Returns the new validator's pubkey."""
        assert self.contracts is not None
        pubkey = keccak(text=f"devnet-validator-{seed}") + keccak(text=f"devnet-validator-{seed}-2")[:16]
        credentials = b"\x01" + b"\x00" * 11 + bytes.fromhex(self.contracts.vault.address[2:])
        call = self.contracts.factory.functions.deployStakingPoolContracts(
            pubkey, credentials, b"\x00" * 96, self.governance, self.governance
        )
        await call.transact(tx_params(self.governance, value=self.amounts.first_deposit_wei, gas=8_000_000))
        return pubkey

    async def activate_pool(self, pubkey: bytes) -> Pool:
        """activateStakingPool for a registered validator the CL now holds, with proofs at the latest slot
        whose block root the EIP-4788 contract has (mined with the next slot)."""
        assert self.chain is not None and self.contracts is not None
        index = self.chain.validator_index(pubkey)
        if index is None:
            raise DevnetError("the CL does not hold this validator yet (its deposit is still in flight)")
        timestamp = max(self.el_parent_slots)
        call = self.activation_call(index, self.el_parent_slots[timestamp], timestamp)
        await call.transact(tx_params(self.governance, gas=2_000_000))
        core = await self.contracts.factory.functions.getCoreContracts(pubkey).call()
        pool = Pool(index, pubkey, core[1], core[2], core[0])
        self.pools.append(pool)
        return pool

    def _switch_random_events(self, on: bool) -> None:
        self.random_events = on

    def _drop_exit_requests(self, count: int) -> None:
        self.dropped_exit_requests = count

    async def _random_events(self) -> None:
        if not self.pools:
            return
        pool = self.pools[int(self._rng.integers(0, len(self.pools)))]
        roll = self._rng.random()
        with contextlib.suppress(Exception):
            # Stakes buffer until a CL deposit's minimum; top-ups are CL deposits, at least that minimum.
            minimum = self.amounts.min_cl_deposit_wei
            if roll < 0.06:
                await self.stake(pool, int(self._rng.integers(1, 6)) * minimum // 4)
            elif roll < 0.09:
                await self.request_withdrawal(pool, int(self._rng.integers(1, 3)) * GWEI_PER_ETH)
            elif roll < 0.13:
                await self.top_up(pool, minimum)

    # -- description ---------------------------------------------------------------------------------------

    @property
    def withdrawal_flight_blocks(self) -> int:
        """Blocks within which the simulated CL pays a partial withdrawal request (one block per slot)."""
        return (self.config.withdrawal_delay_epochs + 1) * self.config.slots_per_epoch + 1

    def describe(self) -> dict[str, Any]:
        assert self.contracts is not None
        return {
            "layout": self.config.layout,
            "chain_id": self.config.chain_id,
            "slot_seconds": self.config.slot_seconds,
            "genesis_time": self.genesis_time,
            "beacon_api": self.beacon_url,
            "execution_rpc": self.rpc_url,
            "contracts": {
                "factory": self.contracts.factory.address,
                "accounting_oracle": self.contracts.oracle.address,
                "withdrawal_vault": self.contracts.vault.address,
                "beacon_deposit": AsyncWeb3.to_checksum_address(BEACON_DEPOSIT),
                "beacon_roots": AsyncWeb3.to_checksum_address(BEACON_ROOTS),
            },
            "pools": [
                {
                    "validator_index": p.validator_index,
                    "pubkey": "0x" + p.pubkey.hex(),
                    "staking_pool": p.staking_pool,
                }
                for p in self.pools
            ],
            "set_pools": [
                {
                    "address": self.contracts.set_pool.address,
                    "validators": self.config.set_pool_validators,
                    "first_index": self.config.validators - self.config.set_pool_validators,
                    "reporter": self.feeder,
                }
            ]
            if self.contracts.set_pool is not None
            else [],
            "governance": self.governance,
            "feeder": None if self.config.open_reporting else self.feeder,
            "open_reporting": self.config.open_reporting,
        }

    def write_config(self, path: Path) -> Path:
        """A daemon config for this network; the feeder key goes to a 0600 file beside it, not into it."""
        path = path.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        key_file = path.with_name(path.stem + "-feeder.key")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(TEST_KEYS[1] + "\n")
        info = self.describe()
        lines = [
            "# Written by `pool-oracle devnet`: the daemon's configuration for this devnet.",
            "network: devnet",
            f"chain_id: {info['chain_id']}",
            f"layout: {info['layout']}",
            "beacon_endpoints:",
            f"  - {info['beacon_api']}",
            "execution_endpoints:",
            f"  - {info['execution_rpc']}",
            "contracts:",
            f'  factory: "{info["contracts"]["factory"]}"',
            f'  withdrawal_vault: "{info["contracts"]["withdrawal_vault"]}"',
            f'  accounting_oracle: "{info["contracts"]["accounting_oracle"]}"',
            f'  beacon_deposit: "{info["contracts"]["beacon_deposit"]}"',
            "reporting:",
            "  # The devnet's CL pays a withdrawal request within this many blocks (Berachain: 49,153).",
            f"  withdrawal_lookback_blocks: {self.withdrawal_flight_blocks}",
            "signer:",
            f"  key_file: {key_file}",
            "keeper:",
            "  # Every permissionless duty, for every pool (the devnet's feeder key has gas for them).",
            "  enabled: true",
            "  min_rewards_gwei: 1000000000  # 1 BERA / ETH",
            "  # The devnet's CL takes an exit request within a few slots (Berachain: 49,153 blocks).",
            f"  retry_full_exit_after_blocks: {self.withdrawal_flight_blocks}",
        ]
        if info["set_pools"]:
            lines += [
                "set_pools:",
                "  # The many-validator pool's reports (the feeder key is its reporter): every 2 minutes here.",
                "  addresses:",
                *(f'    - "{p["address"]}"' for p in info["set_pools"]),
                "  report_interval_seconds: 120",
            ]
        lines.append("")
        path.write_text("\n".join(lines))
        return key_file


def format_banner(devnet: Devnet, keys: Sequence[str] = TEST_KEYS[1:]) -> str:
    info = devnet.describe()
    lines = [
        f"pool-oracle devnet: {info['layout']}, chain id {info['chain_id']}, {info['slot_seconds']} s slots",
        f"  Beacon API     {info['beacon_api']}",
        f"  Execution RPC  {info['execution_rpc']}",
    ]
    for name, address in info["contracts"].items():
        lines.append(f"  {name:<17} {address}")
    for pool in info["pools"]:
        lines.append(f"  pool of validator {pool['validator_index']:<3} {pool['staking_pool']}  {pool['pubkey'][:18]}…")
    for set_pool in info["set_pools"]:
        first, count = set_pool["first_index"], set_pool["validators"]
        lines.append(f"  set pool         {set_pool['address']}  validators {first}..{first + count - 1}")
    lines.append(f"  governance       {info['governance']} (anvil account 0)")
    if info["open_reporting"]:
        lines.append("  reporting        open to anyone (--open-reporting)")
    lines.append("  funded test keys (anvil's well-known development keys; never use them elsewhere):")
    for key in keys:
        account = Account.from_key(key)
        role = "  FEEDER_ROLE" if account.address == info["feeder"] else ""
        lines.append(f"    {account.address}  {key}{role}")
    return "\n".join(lines)

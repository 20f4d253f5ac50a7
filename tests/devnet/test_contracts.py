"""The reference contracts against the engine's proofs on a live devnet: accepted as built, rejected with
the deployed errors when tampered with, stale or unanchored."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from oracle.devnet.network import Devnet
from oracle.ssz.state import ValidatorProof
from tests.devnet.conftest import revert_selector, started

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# DESIGN.md's selectors.
ERRORS = {
    "InvalidTimestamp()": "0xb7d09497",
    "InvalidBeaconBlockRoot()": "0xa7baf889",
    "InvalidProof()": "0x09bde339",
    "InvalidBalance()": "0xc52e3eff",
    "IndexOutOfRange()": "0x1390f2a1",
    "InvalidValidatorPubkeyLength()": "0x5f4167e9",
    "BranchHasExtraItem()": "0x5849603f",
    "BranchHasMissingItem()": "0x1b6661c3",
    "AccessControlUnauthorizedAccount(address,bytes32)": "0xe2517d3f",
}
SEL = {name.split("(")[0]: selector for name, selector in ERRORS.items()}
SEL["EnforcedPause"] = "0x" + Web3.keccak(text="EnforcedPause()")[:4].hex().removeprefix("0x")


def proof_at(devnet: Devnet, index: int) -> tuple[ValidatorProof, int]:
    """Engine proofs of the state one slot behind head, and the timestamp that anchors them (the EL
    block of the following slot carries that slot's block root)."""
    chain = devnet.chain
    assert chain is not None
    slot = chain.slot - 1
    return chain.state(slot).prove_validator(index), chain.slot_time(slot + 1)


def pubkey_call(devnet: Devnet, vp: ValidatorProof, timestamp: int, **change: Any) -> Any:
    args = {
        "pubkey": vp.pubkey,
        "proof": list(vp.pubkey_proof),
        "index": vp.index,
        "timestamp": timestamp,
    } | change
    assert devnet.contracts is not None
    return devnet.contracts.factory.functions.validatePubkeyProof(
        args["pubkey"], args["proof"], args["index"], args["timestamp"]
    )


def balance_call(devnet: Devnet, vp: ValidatorProof, timestamp: int, **change: Any) -> Any:
    args = {
        "balance": vp.balance,
        "leaf": vp.balance_leaf,
        "proof": list(vp.balance_proof),
        "index": vp.index,
        "timestamp": timestamp,
    } | change
    assert devnet.contracts is not None
    return devnet.contracts.factory.functions.validateBalanceProof(
        args["balance"], args["leaf"], args["proof"], args["index"], args["timestamp"]
    )


def report_call(devnet: Devnet, vp: ValidatorProof, timestamp: int) -> Any:
    assert devnet.contracts is not None
    return devnet.contracts.oracle.functions.updateTotalDeposits(
        vp.pubkey,
        list(vp.pubkey_proof),
        vp.balance,
        vp.balance_leaf,
        list(vp.balance_proof),
        vp.index,
        timestamp,
    )


def flip(node: bytes) -> bytes:
    return bytes([node[0] ^ 1]) + node[1:]


async def test_engine_proofs_are_accepted(devnet: Devnet) -> None:
    for index in (0, 1, 5):
        proof, timestamp = proof_at(devnet, index)
        assert await revert_selector(pubkey_call(devnet, proof, timestamp)) is None
        assert await revert_selector(balance_call(devnet, proof, timestamp)) is None
        assert devnet.contracts is not None
        credentials = devnet.contracts.factory.functions.validateWithdrawalCredentialsProof(
            proof.withdrawal_credentials, list(proof.withdrawal_credentials_proof), index, timestamp
        )
        assert await revert_selector(credentials) is None


async def test_tampering_is_rejected_with_the_deployed_errors(devnet: Devnet) -> None:
    proof, ts = proof_at(devnet, 1)
    pk, bal = list(proof.pubkey_proof), list(proof.balance_proof)
    cases = [
        (pubkey_call(devnet, proof, ts, proof=[flip(pk[0]), *pk[1:]]), "InvalidProof"),
        (pubkey_call(devnet, proof, ts, proof=[*pk[:-1], flip(pk[-1])]), "InvalidProof"),
        (pubkey_call(devnet, proof, ts, pubkey=flip(proof.pubkey)), "InvalidProof"),
        (pubkey_call(devnet, proof, ts, index=2), "InvalidProof"),
        (pubkey_call(devnet, proof, ts, pubkey=proof.pubkey[:47]), "InvalidValidatorPubkeyLength"),
        (pubkey_call(devnet, proof, ts, proof=pk[:-1]), "BranchHasMissingItem"),
        (pubkey_call(devnet, proof, ts, proof=[*pk, pk[0]]), "BranchHasExtraItem"),
        (pubkey_call(devnet, proof, ts, index=2**40), "IndexOutOfRange"),
        (balance_call(devnet, proof, ts, balance=proof.balance + 1), "InvalidBalance"),
        (balance_call(devnet, proof, ts, leaf=flip(proof.balance_leaf)), "InvalidProof"),
        (balance_call(devnet, proof, ts, proof=[flip(bal[3]), *bal[:3], *bal[4:]]), "InvalidProof"),
        (balance_call(devnet, proof, ts, proof=bal[1:]), "BranchHasMissingItem"),
        (balance_call(devnet, proof, ts - 1), "InvalidBeaconBlockRoot"),  # between blocks: no root
        (balance_call(devnet, proof, ts + 1), "InvalidTimestamp"),  # in the future
        (balance_call(devnet, proof, ts + 3600), "InvalidTimestamp"),
    ]
    for call, error in cases:
        assert await revert_selector(call) == SEL[error], error


async def test_a_proof_against_another_slots_root_fails(devnet: Devnet) -> None:
    proof, _ = proof_at(devnet, 0)
    assert devnet.chain is not None
    await devnet.stake(devnet.pools[0], 2 * 10**18)  # change something so roots differ
    await devnet.step()
    assert (
        await revert_selector(balance_call(devnet, proof, devnet.chain.slot_time(devnet.chain.slot)))
        == SEL["InvalidProof"]
    )


async def test_feeder_report_lands_and_others_are_refused(devnet: Devnet) -> None:
    assert devnet.contracts is not None and devnet.chain is not None
    pool = devnet.pools[1]
    proof, ts = proof_at(devnet, pool.validator_index)
    report = report_call(devnet, proof, ts)
    assert await revert_selector(report, devnet.user) == SEL["AccessControlUnauthorizedAccount"]
    staking_pool = devnet.pool_contract(pool)
    await staking_pool.functions.pause().transact({"from": devnet.governance})
    await devnet.step()
    assert await revert_selector(report, devnet.feeder) == SEL["EnforcedPause"]
    await staking_pool.functions.unpause().transact({"from": devnet.governance})
    await devnet.step()
    tx = await report.transact({"from": devnet.feeder, "gas": 1_000_000})
    await devnet.step()
    receipt = await devnet.w3.eth.get_transaction_receipt(tx)
    assert receipt["status"] == 1
    assert await staking_pool.functions.totalDeposits().call() == proof.balance * 10**9
    events = staking_pool.events.TotalDepositsUpdated().process_receipt(receipt)
    assert [e["args"]["newTotalDeposits"] for e in events] == [proof.balance * 10**9]


@pytest.mark.slow
async def test_stale_proofs_and_open_reporting() -> None:
    # 61 s slots: eleven slots carry a proof past MAX_TIMESTAMP_AGE (600 s).
    net = await started(layout="beaconkit-electra", slot_seconds=61, open_reporting=True)
    try:
        assert net.contracts is not None
        proof, ts = proof_at(net, 0)
        report = report_call(net, proof, ts)
        assert await revert_selector(report, net.user) is None  # anyone may report
        await net.steps(10)
        assert await revert_selector(report, net.user) == SEL["InvalidTimestamp"]
        assert await revert_selector(balance_call(net, proof, ts)) == SEL["InvalidTimestamp"]
    finally:
        await net.stop()


def selector(signature: str) -> str:
    return "0x" + Web3.keccak(text=signature)[:4].hex().removeprefix("0x")


async def test_withdrawal_requests_are_nfts_with_a_fee_and_a_delay(devnet: Devnet) -> None:
    """WithdrawalVault as Berachain's operator guide describes it: a request is a non-transferable ERC-721 of
    its requester, costs the EIP-7002 fee (the rest refunded), counts in allocatedWithdrawalsAmount, and is
    not finalizable before WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY blocks (129,600 on Berachain)."""
    assert devnet.contracts is not None
    vault, pool = devnet.contracts.vault, devnet.pools[0]
    owner = devnet.governance  # holds the genesis pools' shares
    assert await vault.functions.WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY().call() == 129_600
    fee = await vault.functions.getWithdrawalRequestFee().call()
    request = vault.functions.requestWithdrawal(pool.pubkey, 10**9, 0)
    with pytest.raises(ContractCustomError) as refused:
        await request.call({"from": owner, "value": fee})
    assert str(refused.value.data)[:10] == selector("OverpaidFee()")  # maxFeeToPay below the fee (Sept 2025 H-1)
    before = await vault.functions.allocatedWithdrawalsAmount(pool.pubkey).call()
    balance = await devnet.w3.eth.get_balance(owner)
    tx = await vault.functions.requestWithdrawal(pool.pubkey, 10**9, 10**18).transact(
        {"from": owner, "value": 10**16, "gas": 500_000}
    )
    await devnet.step()
    receipt = await devnet.w3.eth.get_transaction_receipt(tx)
    assert receipt["status"] == 1
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert balance - await devnet.w3.eth.get_balance(owner) == fee + gas  # the overpaid 0.01 came back
    (minted,) = vault.events.Transfer().process_receipt(receipt, errors=DISCARD)
    request_id = minted["args"]["tokenId"]
    assert minted["args"]["from"] == "0x" + "00" * 20 and minted["args"]["to"] == owner
    assert await vault.functions.ownerOf(request_id).call() == owner
    assert await vault.functions.allocatedWithdrawalsAmount(pool.pubkey).call() == before + 10**18
    transfer = vault.functions.transferFrom(owner, devnet.user, request_id)
    assert await revert_selector(transfer, owner) == selector("NonTransferable()")
    finalize = vault.functions.finalizeWithdrawalRequest(request_id)
    assert await revert_selector(finalize, owner) == selector("RequestNotReady()")


async def test_a_withdrawal_below_the_minimum_is_a_full_exit(devnet: Devnet) -> None:
    """A request whose CL portion leaves totalDeposits below minEffectiveBalance becomes the validator's full exit
    (May 2026 audit M-1): the pool freezes its total assets, is fully exited and paused, and the vault asks for
    the exit (amount 0). Stakers then redeem at the frozen price, paused or not; retryFullExit (PoL-Next) waits
    out the flight window of the validator's last partial request (PendingWithdrawalInFlight), then re-sends."""
    assert devnet.contracts is not None and devnet.chain is not None
    vault, pool, owner = devnet.contracts.vault, devnet.pools[1], devnet.governance
    contract = devnet.pool_contract(pool)
    await devnet.request_withdrawal(pool, 10**9, sender=owner)  # a partial request first
    await devnet.step()
    total = await contract.functions.totalDeposits().call()
    minimum = await contract.functions.minEffectiveBalance().call()
    price = await contract.functions.convertToAssets(10**18).call()
    excess_gwei = (total - minimum) // 10**9 + 1
    await devnet.request_withdrawal(pool, excess_gwei, sender=owner)
    await devnet.step()
    assert await contract.functions.isFullyExited().call() and await contract.functions.paused().call()
    assert await contract.functions.convertToAssets(10**18).call() == price  # frozen
    exit_epoch = int(devnet.chain.validators.exit_epochs[pool.validator_index])
    assert exit_epoch == devnet.chain.epoch + 1  # the devnet's CL followed the exit request
    redeem = vault.functions.requestRedeem(pool.pubkey, 10**18, 1)
    assert await redeem.call({"from": owner, "value": 1}) > 0  # after the full exit, at the frozen price
    retry = vault.functions.retryFullExit(pool.pubkey, 1)
    with pytest.raises(ContractCustomError) as refused:
        await retry.call({"from": devnet.user, "value": 1})
    assert str(refused.value.data)[:10] == selector("PendingWithdrawalInFlight()")
    await devnet.steps(await vault.functions.WITHDRAWAL_FLIGHT_BLOCK_DELAY().call())
    tx = await retry.transact({"from": devnet.user, "value": 1, "gas": 300_000})
    receipt = await receipt_of(devnet, tx)
    assert [e["args"]["pubkey"] for e in vault.events.FullExitRequestRetried().process_receipt(receipt)] == [
        pool.pubkey
    ]
    (triggered,) = vault.events.ELWithdrawalTriggered().process_receipt(receipt, errors=DISCARD)
    assert triggered["args"]["amount"] == 0


async def test_a_finalized_request_pays_its_owner_and_releases_the_allocation() -> None:
    """Finalization after WITHDRAWAL_REQUEST_FINALIZATION_BLOCK_DELAY (4 blocks on this devnet; 129,600 on
    Berachain, which anvil would take hours to mine): the BERA the CL paid to the vault goes to the request's
    owner, the ERC-721 is burnt and allocatedWithdrawalsAmount falls back."""
    net = await started(layout="beaconkit-electra", finalization_delay_blocks=4, withdrawal_delay_epochs=1)
    try:
        assert net.contracts is not None and net.chain is not None
        vault, pool, owner = net.contracts.vault, net.pools[0], net.governance
        await net.request_withdrawal(pool, 10**9, sender=owner)
        await net.step()
        request_id = await vault.functions.totalSupply().call()  # the first and only request
        assert await vault.functions.allocatedWithdrawalsAmount(pool.pubkey).call() == 10**18
        while net.chain.pending_partial_withdrawals:  # the CL pays the vault (2 epochs of 4 slots)
            await net.step()
        await net.steps(2)
        before = await net.w3.eth.get_balance(owner)
        tx = await vault.functions.finalizeWithdrawalRequest(request_id).transact({"from": net.user, "gas": 300_000})
        await net.step()
        assert (await net.w3.eth.get_transaction_receipt(tx))["status"] == 1
        assert await net.w3.eth.get_balance(owner) - before == 10**18  # to the owner, whoever finalizes
        assert await vault.functions.allocatedWithdrawalsAmount(pool.pubkey).call() == 0
        assert await vault.functions.balanceOf(owner).call() == 0
        assert await revert_selector(vault.functions.ownerOf(request_id)) == selector("ERC721NonexistentToken(uint256)")
    finally:
        await net.stop()


# -- the contracts as the audits quote them (docs/CONTRACTS.md names each excerpt) ------------------------------


async def receipt_of(net: Devnet, tx: Any) -> Any:
    await net.step()
    receipt = await net.w3.eth.get_transaction_receipt(tx)
    assert receipt["status"] == 1
    return receipt


async def test_withdrawal_rules_as_the_audits_quote_them(devnet: Devnet) -> None:
    """WithdrawalVault._withdraw (Sept 2025 H-1, Oct 2025 M-4, May 2026 M-1) and notifyFullExitFromCL (H-1): nobody
    asks for 0 gwei, a fee above maxFeeToPay is OverpaidFee and one not sent InsufficientFee, a request beyond
    totalDeposits is the full exit (not a revert), only the validator's pool tells the vault of a full exit,
    and retryFullExit (PoL-Next) wants a fully exited validator."""
    assert devnet.contracts is not None
    vault, pool, owner = devnet.contracts.vault, devnet.pools[0], devnet.governance
    assert await revert_selector(vault.functions.requestWithdrawal(pool.pubkey, 0, 1), owner) == selector(
        "InvalidAmount()"
    )
    with pytest.raises(ContractCustomError) as refused:
        await vault.functions.requestWithdrawal(pool.pubkey, 10**9, 0).call({"from": owner, "value": 1})
    assert str(refused.value.data)[:10] == selector("OverpaidFee()")
    with pytest.raises(ContractCustomError) as refused:
        await vault.functions.requestWithdrawal(pool.pubkey, 10**9, 1).call({"from": owner, "value": 0})
    assert str(refused.value.data)[:10] == selector("InsufficientFee()")
    notify = vault.functions.notifyFullExitFromCL(pool.pubkey)
    assert await revert_selector(notify, owner) == selector("InvalidSender()")
    retry = vault.functions.retryFullExit(pool.pubkey, 1)
    with pytest.raises(ContractCustomError) as refused:
        await retry.call({"from": devnet.user, "value": 1})
    assert str(refused.value.data)[:10] == selector("NotFullyExited()")


async def test_the_cl_exit_path_report_below_the_minimum_then_zero_closes_the_pool() -> None:
    """StakingPool.updateTotalDeposits as the May 2026 audit quotes it (I-2): a report below minEffectiveBalance
    only overwrites totalDeposits; once the CL has exited and swept the validator by itself, the report of 0
    triggers the full exit (_triggerFullExit, Sept 2025 H-1: total assets frozen, buffer and rewards to the
    vault, fully exited, paused) and tells the vault; a staker then redeems from the vault at the frozen price
    (no EIP-7002 request, the fee refunded) and anyone finalizes it after the delay."""
    net = await started(layout="beaconkit-electra", finalization_delay_blocks=4, withdrawal_delay_epochs=1)
    try:
        assert net.contracts is not None and net.chain is not None
        vault, pool, owner = net.contracts.vault, net.pools[0], net.governance
        contract = net.pool_contract(pool)
        await net.stake(pool, 5_000 * 10**18)  # buffered: below a CL deposit's minimum
        for address, amount in ((pool.rewards_vault, 7 * 10**18), (pool.smart_operator, 3 * 10**18)):
            await net.w3.eth.send_transaction({"from": net.user, "to": address, "value": amount})  # type: ignore[typeddict-item]
        total = await contract.functions.totalDeposits().call()
        await receipt_of(net, await contract.functions.setMinEffectiveBalance(total + 20_000 * 10**18).transact(
            {"from": owner}))  # fmt: skip
        await net.step()
        proof, ts = proof_at(net, pool.validator_index)
        await receipt_of(net, await report_call(net, proof, ts).transact({"from": net.feeder, "gas": 1_000_000}))
        assert await contract.functions.totalDeposits().call() == proof.balance * 10**9 == total
        assert not await contract.functions.isFullyExited().call()  # no minimum rule on reports
        # A request beyond totalDeposits (the buffer counts in the shares' worth) is the full exit, not a revert.
        beyond = vault.functions.requestWithdrawal(pool.pubkey, total // 10**9 + 5 * 10**9, 1)
        assert await beyond.call({"from": owner, "value": 1}) > 0

        net.chain.exit(pool.validator_index)  # the CL's own exit: no request from the pool
        while int(net.chain.validators.balances[pool.validator_index]) > 0:
            await net.step()
        await net.step()
        assets = await contract.functions.totalAssets().call()
        price = await contract.functions.convertToAssets(10**18).call()
        held = await net.w3.eth.get_balance(vault.address)
        proof, ts = proof_at(net, pool.validator_index)
        assert proof.balance == 0
        receipt = await receipt_of(net, await report_call(net, proof, ts).transact({"from": net.feeder,
                                                                                   "gas": 1_000_000}))  # fmt: skip
        assert len(contract.events.FullExitTriggered().process_receipt(receipt, errors=DISCARD)) == 1
        assert await contract.functions.isFullyExited().call() and await contract.functions.paused().call()
        assert await contract.functions.totalAssets().call() == assets  # frozen: the stake the CL swept
        assert await contract.functions.convertToAssets(10**18).call() == price
        moved = 5_000 * 10**18 + 7 * 10**18 + 3 * 10**18
        assert await net.w3.eth.get_balance(vault.address) == held + moved
        for address in (pool.rewards_vault, pool.smart_operator, pool.staking_pool):
            assert await net.w3.eth.get_balance(address) == 0

        shares = await contract.functions.balanceOf(owner).call() // 2
        expected = await contract.functions.previewRedeem(shares).call() // 10**9 * 10**9
        receipt = await receipt_of(net, await vault.functions.requestRedeem(pool.pubkey, shares, 1).transact(
            {"from": owner, "value": 1, "gas": 500_000}))  # fmt: skip
        assert vault.events.ELWithdrawalTriggered().process_receipt(receipt, errors=DISCARD) == ()
        assert [e["args"]["amount"] for e in vault.events.OverpaidFeeRefunded().process_receipt(
            receipt, errors=DISCARD)] == [1]  # fmt: skip
        (requested,) = vault.events.WithdrawalRequested().process_receipt(receipt, errors=DISCARD)
        assert requested["args"]["amountOfAsset"] == expected and requested["args"]["isFullExitWithdraw"]
        await net.steps(4)
        before = await net.w3.eth.get_balance(owner)
        await receipt_of(net, await vault.functions.finalizeWithdrawalRequest(requested["args"]["requestId"]).transact(
            {"from": net.user, "gas": 300_000}))  # fmt: skip
        assert await net.w3.eth.get_balance(owner) - before == expected
        retried = await receipt_of(net, await vault.functions.retryFullExit(pool.pubkey, 1).transact(
            {"from": net.user, "value": 1, "gas": 300_000}))  # fmt: skip
        assert len(vault.events.FullExitRequestRetried().process_receipt(retried, errors=DISCARD)) == 1
    finally:
        await net.stop()

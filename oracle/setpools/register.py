"""`pool-oracle register-validators`: the pool owner's registration of validators paying out to the pool, each
bound once to its index by one multiproof of its pubkey and credentials against the EIP-4788 root of the
cycle's finalized block. Candidates are read from that state: credentials the pool's own, an index past the
registry's last (the contract keeps the registry in increasing order), in batches of `BATCH` validators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oracle.keeper.run import ActionResult, perform
from oracle.keeper.view import Action
from oracle.reporting.context import Context, CycleFacts
from oracle.setpools.read import CONTRACT, read_set_pool
from oracle.setpools.view import SetPoolView
from oracle.ssz.batches import registration_proof

BATCH = 100  # validators per registerValidators: ~4.6M gas


class RegistrationRefused(Exception):
    """Nothing can be registered now: the message says why, for the operator."""


def candidates(facts: CycleFacts, view: SetPoolView, wanted: Sequence[int] = ()) -> list[int]:
    """Validators of the finalized state with the pool's credentials and an index past the registry's last;
    `wanted` narrows them (each must qualify, or the operator is told why not)."""
    records = facts.state.validator_records()
    credentials = np.frombuffer(view.credentials, dtype=np.uint8)
    paying = set(np.flatnonzero((records[:, 48:80] == credentials).all(axis=1)).tolist())
    floor = view.indices[-1] + 1 if view.indices else 0
    if not wanted:
        return sorted(i for i in paying if i >= floor)
    for index in wanted:
        if index >= facts.state.validator_count:
            raise RegistrationRefused(f"validator {index} is not in the finalized state (slot {facts.anchor.slot})")
        if index not in paying:
            raise RegistrationRefused(f"validator {index}'s withdrawal credentials are not the pool's")
        if index < floor:
            raise RegistrationRefused(f"validator {index} is below the registry's last index {floor - 1}: "
                                      "registered already, or out of the registry's increasing order")  # fmt: skip
    return sorted(set(wanted))


async def register_validators(
    ctx: Context, facts: CycleFacts, address: str, wanted: Sequence[int] = ()
) -> list[ActionResult]:
    view = await read_set_pool(ctx, address, facts.books_block)
    if view.open is not None:
        raise RegistrationRefused(f"report {view.open.report_id} is open: the contract registers between reports")
    indices = candidates(facts, view, wanted)
    if not indices:
        raise RegistrationRefused(
            f"no validator of the finalized state (slot {facts.anchor.slot}) pays out to the pool beyond its "
            f"{len(view.indices)} registered ones"
        )
    results = []
    for first in range(0, len(indices), BATCH):
        proof = registration_proof(facts.state, indices[first : first + BATCH])
        action = Action(
            "set_pool_register", f"set_register:{address.lower()}:{proof.indices[0]}:{facts.anchor.slot}", address,
            CONTRACT, address, "registerValidators",
            (facts.anchor.timestamp, proof.validators_length, proof.indices, proof.pubkeys, proof.witnesses),
            why=f"validators {proof.indices[0]}..{proof.indices[-1]} ({len(proof.indices)}), "
            f"slot {facts.anchor.slot}",
        )  # fmt: skip
        if ctx.txm is None:
            results.append(ActionResult(action, "due", "no signer configured: nothing sent"))
            continue
        result, _ = await perform(ctx, action, ctx.settings.set_pools.max_batch_gas)
        results.append(result)
        if result.outcome != "landed":
            break
    return results

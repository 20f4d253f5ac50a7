"""Stage 4: verified proofs of a pool validator's balance (the node's and our engine's)."""

from __future__ import annotations

import time

import structlog

from oracle import metrics
from oracle.beacon.answers import EndpointError
from oracle.beacon.client import BeaconNode
from oracle.reporting.context import Anchor, Context, Pool
from oracle.reporting.proofs import ProvenBalance, engine_proof, verify
from oracle.ssz.errors import ProofError
from oracle.ssz.state import BeaconState

log = structlog.get_logger("oracle.cycle")


async def node_proof(node: BeaconNode, anchor: Anchor, index: int) -> ProvenBalance:
    timestamp_id = f"t{anchor.timestamp}"
    pk = await node.bkit_proof("validator_pubkey", timestamp_id, index)
    bal = await node.bkit_proof("validator_balance", timestamp_id, index)
    return ProvenBalance(
        index=index,
        pubkey=pk["pubkey"],
        balance=bal["balance"],
        balance_leaf=bal["leaf"],
        pubkey_proof=tuple(pk["proof"]),
        balance_proof=tuple(bal["proof"]),
        block_root=bal["block_root"],
        slot=bal["slot"],
        source="node",
    )


async def prove(ctx: Context, node: BeaconNode, anchor: Anchor, state: BeaconState, pool: Pool) -> ProvenBalance | None:
    """Verified proofs for the pool's validator: the node's (beacon-kit) checked against the EIP-4788 root
    and our engine's, or ours alone. None if nothing verifies (then nothing is sent)."""
    candidates: list[ProvenBalance] = []
    # beacon-kit serves balance proofs from Electra only (merkle/generalized_indexes.go).
    # `cross_check_state` off: our engine's proofs alone, two requests fewer per pool.
    node_proofs = state.layout.family == "beaconkit" and state.layout.has_field("pending_partial_withdrawals")
    if node_proofs and ctx.settings.reporting.cross_check_state:
        started = time.perf_counter()
        try:
            candidates.append(await node_proof(node, anchor, pool.index))
        except EndpointError as exc:
            log.warning("node proof unavailable", endpoint=node.label, validator_index=pool.index, error=str(exc))
        metrics.PROOF_BUILD_SECONDS.labels("node").observe(time.perf_counter() - started)
    started = time.perf_counter()
    try:
        ours = engine_proof(state, pool.index)
    except ProofError as exc:
        log.error("engine proof failed", validator_index=pool.index, error=str(exc))
        ours = None
    metrics.PROOF_BUILD_SECONDS.labels("engine").observe(time.perf_counter() - started)
    if ours is not None:
        candidates.append(ours)
    verified = None
    for candidate in candidates:
        started = time.perf_counter()
        problems = verify(candidate, state.layout, anchor.block_root)
        metrics.PROOF_VERIFY_SECONDS.observe(time.perf_counter() - started)
        if candidate.pubkey != pool.pubkey:
            problems.append("proof is for another validator's pubkey")
        if problems:
            endpoint = node.label if candidate.source == "node" else "engine"
            for problem in problems:
                kind = problem.split()[0]
                metrics.PROOF_FAILURES.labels(endpoint, kind if kind in metrics.PROOF_KINDS else "proof").inc()
            log.error("proof rejected", source=candidate.source, endpoint=endpoint, validator_index=pool.index,
                      slot=anchor.slot, problems=problems)  # fmt: skip
            continue
        # Proofs that verify at one gindex against one root share their leaf, so any of them will do.
        verified = verified or candidate
    return verified

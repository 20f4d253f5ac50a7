"""Activation: `factory.activateStakingPool(ValidatorData, ProofData, timestamp)` is permissionless once the
pool's validator is on the CL with its first deposit; it takes three proofs at one slot (pubkey, withdrawal
credentials, balance) against the EIP-4788 root of `timestamp`, which must be younger than MAX_TIMESTAMP_AGE
when it lands. The proofs are our engine's, built and verified in the view (`Activation`)."""

from __future__ import annotations

from oracle.config.settings import Keeper
from oracle.keeper.view import Action, Activation, KeeperView


def args(activation: Activation) -> tuple[object, ...]:
    validator = (activation.pubkey, activation.credentials, activation.balance_gwei, activation.validator_index)
    proofs = (
        list(activation.pubkey_proof),
        list(activation.credentials_proof),
        list(activation.balance_proof),
        activation.balance_leaf,
    )
    return validator, proofs, activation.timestamp


def due(view: KeeperView, settings: Keeper, *, landing_seconds: float) -> list[Action]:
    if not settings.activation:
        return []
    out = []
    for activation in view.activations:
        if activation.balance_gwei < view.first_deposit_gwei:
            continue  # the first deposit is not credited yet (InvalidInitialDepositAmount)
        if view.chain_now + landing_seconds >= activation.timestamp + view.max_timestamp_age:
            continue  # its proofs would be past MAX_TIMESTAMP_AGE when they land: next cycle's are fresher
        out.append(
            Action(
                "activation",
                f"activation:{activation.pubkey.hex()}:{activation.slot}",
                activation.pool,
                "StakingPoolContractsFactory",
                view.factory,
                "activateStakingPool",
                args(activation),
                why=f"validator {activation.validator_index} holds its first deposit on the CL",
                proof_timestamp=activation.timestamp,
            )
        )
    return out

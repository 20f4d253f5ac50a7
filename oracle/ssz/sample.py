"""Synthetic beacon states of any layout, for the demo, tests and benchmarks.

Big lists are generated as numpy arrays and passed to the encoder pre-serialized, so a mainnet-sized
state (2.1M validators) builds in seconds. Every other field gets random but well-formed content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from oracle.ssz.layouts import Layout, Validator, get_layout
from oracle.ssz.types import (
    Bitlist,
    Bitvector,
    Boolean,
    ByteList,
    ByteVector,
    Container,
    List,
    SSZType,
    UInt,
    Vector,
)

FAR_FUTURE_EPOCH = 2**64 - 1
GWEI_PER_ETH = 10**9


@dataclass
class ValidatorSet:
    """Columns of a validator registry; `records()` serializes it without a Python object per validator."""

    pubkeys: np.ndarray  # (n, 48)
    withdrawal_credentials: np.ndarray  # (n, 32)
    effective_balances: np.ndarray  # (n,) uint64
    slashed: np.ndarray  # (n,) bool
    activation_eligibility_epochs: np.ndarray
    activation_epochs: np.ndarray
    exit_epochs: np.ndarray
    withdrawable_epochs: np.ndarray

    @property
    def count(self) -> int:
        return int(self.pubkeys.shape[0])

    def records(self) -> np.ndarray:
        return validator_records(
            self.pubkeys,
            self.withdrawal_credentials,
            self.effective_balances,
            self.slashed,
            (self.activation_eligibility_epochs, self.activation_epochs, self.exit_epochs, self.withdrawable_epochs),
        )


def validator_records(
    pubkeys: np.ndarray,
    credentials: np.ndarray,
    effective_balances: np.ndarray,
    slashed: np.ndarray,
    epochs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Serialize validator columns as 121-byte Validator records, without a Python object per validator.
    `epochs`: activation eligibility, activation, exit and withdrawable epochs."""
    n = int(pubkeys.shape[0])
    out = np.empty((n, Validator.fixed_size or 0), dtype=np.uint8)
    out[:, 0:48] = pubkeys
    out[:, 48:80] = credentials
    out[:, 80:88] = effective_balances.astype("<u8").view(np.uint8).reshape(n, 8)
    out[:, 88] = slashed.astype(np.uint8)
    for column, position in zip(epochs, (89, 97, 105, 113), strict=True):
        out[:, position : position + 8] = column.astype("<u8").view(np.uint8).reshape(n, 8)
    return out


def random_validators(count: int, rng: np.random.Generator, balance_gwei: int = 32 * GWEI_PER_ETH) -> ValidatorSet:
    credentials = np.zeros((count, 32), dtype=np.uint8)
    credentials[:, 0] = 1
    credentials[:, 12:] = rng.integers(0, 256, size=(count, 20), dtype=np.uint8)
    return ValidatorSet(
        pubkeys=rng.integers(0, 256, size=(count, 48), dtype=np.uint8),
        withdrawal_credentials=credentials,
        effective_balances=np.full(count, balance_gwei, dtype=np.uint64),
        slashed=np.zeros(count, dtype=bool),
        activation_eligibility_epochs=np.zeros(count, dtype=np.uint64),
        activation_epochs=np.zeros(count, dtype=np.uint64),
        exit_epochs=np.full(count, FAR_FUTURE_EPOCH, dtype=np.uint64),
        withdrawable_epochs=np.full(count, FAR_FUTURE_EPOCH, dtype=np.uint64),
    )


def random_value(sszt: SSZType, rng: np.random.Generator, small: bool = True) -> Any:
    """A random well-formed value of a type; lists get a few elements (none if `small` and huge)."""
    if isinstance(sszt, Boolean):
        return bool(rng.integers(0, 2))
    if isinstance(sszt, UInt):
        return int.from_bytes(rng.bytes(sszt.fixed_size), "little") if sszt.bits > 8 else int(rng.integers(0, 256))
    if isinstance(sszt, ByteVector):
        return rng.bytes(sszt.length)
    if isinstance(sszt, ByteList):
        return rng.bytes(int(rng.integers(0, sszt.limit + 1)))
    if isinstance(sszt, Bitvector):
        return [bool(b) for b in rng.integers(0, 2, size=sszt.length)]
    if isinstance(sszt, Bitlist):
        return [bool(b) for b in rng.integers(0, 2, size=int(rng.integers(0, min(sszt.limit, 64) + 1)))]
    if isinstance(sszt, Vector):
        if isinstance(sszt.elem, Boolean):
            return rng.integers(0, 2, size=sszt.length, dtype=np.uint8)
        if sszt.elem.is_basic or isinstance(sszt.elem, ByteVector):
            size = sszt.fixed_size or 0
            return rng.integers(0, 256, size=size, dtype=np.uint8)
        return [random_value(sszt.elem, rng, small) for _ in range(sszt.length)]
    if isinstance(sszt, List):
        count = int(rng.integers(0, min(sszt.limit, 4) + 1))
        return [random_value(sszt.elem, rng, small) for _ in range(count)]
    if isinstance(sszt, Container):
        return {name: random_value(ftype, rng, small) for name, ftype in sszt.fields}
    raise TypeError(f"no random value for {sszt.name}")


def build_state(
    layout: str | Layout,
    validators: ValidatorSet,
    balances: np.ndarray | None = None,
    *,
    slot: int = 1000,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> bytes:
    """Serialize a well-formed beacon state of `layout` holding `validators` (post-block: the latest
    header's state_root is zero, as in a state served for a slot with a block)."""
    chosen = get_layout(layout) if isinstance(layout, str) else layout
    rng = np.random.default_rng(seed)
    n = validators.count
    if balances is None:
        balances = validators.effective_balances + rng.integers(0, 10**7, size=n, dtype=np.uint64)
    values: dict[str, Any] = {}
    for name, ftype in chosen.state.fields:
        values[name] = random_value(ftype, rng)
    header = values["latest_block_header"]
    header.update(slot=slot, state_root=b"\x00" * 32)
    values["slot"] = slot
    values["validators"] = validators.records()
    values["balances"] = np.asarray(balances, dtype="<u8").view(np.uint8)
    for name in ("previous_epoch_participation", "current_epoch_participation"):
        if chosen.has_field(name):
            values[name] = rng.integers(0, 8, size=n, dtype=np.uint8)
    if chosen.has_field("inactivity_scores"):
        values["inactivity_scores"] = np.zeros(n, dtype="<u8").view(np.uint8)
    if chosen.family == "beaconkit":
        values["slashings"] = []
        values["randao_mixes"] = rng.integers(0, 256, size=(64, 32), dtype=np.uint8)
        values["block_roots"] = rng.integers(0, 256, size=(64, 32), dtype=np.uint8)
        values["state_roots"] = rng.integers(0, 256, size=(64, 32), dtype=np.uint8)
    if chosen.has_field("pending_partial_withdrawals"):
        values["pending_partial_withdrawals"] = []
    if chosen.has_field("pending_deposits"):
        values["pending_deposits"] = []
    values["fork"]["epoch"] = 0
    values.update(overrides or {})
    return chosen.state.encode(values)


def sample_state(layout: str, count: int, seed: int = 0, slot: int = 1000) -> bytes:
    rng = np.random.default_rng(seed)
    return build_state(layout, random_validators(count, rng), slot=slot, seed=seed + 1)

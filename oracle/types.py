"""Domain types: a slot cannot be passed where a validator index is meant, and signatures read like the domain."""

from __future__ import annotations

from typing import NewType

Slot = NewType("Slot", int)
Epoch = NewType("Epoch", int)
ValidatorIndex = NewType("ValidatorIndex", int)
Gwei = NewType("Gwei", int)
Wei = NewType("Wei", int)
Root = NewType("Root", bytes)
Timestamp = NewType("Timestamp", int)
Address = NewType("Address", str)  # checksummed 0x-hex

WEI_PER_GWEI = 10**9
FAR_FUTURE_EPOCH = Epoch(2**64 - 1)


def gwei_to_wei(amount: Gwei) -> Wei:
    return Wei(amount * WEI_PER_GWEI)

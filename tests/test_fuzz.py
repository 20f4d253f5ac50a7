"""Mutated states: every failure is an SSZError naming a field, never another exception or a hang.

pytest-timeout bounds the time; the states are small so each decode is milliseconds.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.ssz.errors import SSZError
from oracle.ssz.layouts import LAYOUTS
from oracle.ssz.sample import sample_state
from oracle.ssz.state import load_state

pytestmark = [pytest.mark.unit, pytest.mark.timeout(240)]


@cache
def seed_state(name: str) -> bytes:
    return sample_state(name, 6, seed=3)


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    data = bytearray(seed_state(name))
    layout = LAYOUTS[name]
    fixed = layout.state.fixed_part_size
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "offset", "byte", "truncate", "extend", "delete", "insert"]))
        if kind == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "offset":
            # Aim at the offsets of the variable fields, the part a decoder most often trusts.
            low, high = max(0, fixed - 64), min(fixed, len(data)) - 4
            if high < low:
                continue
            i = draw(st.integers(low, high))
            data[i : i + 4] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
        elif kind == "byte":
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=200))
        elif kind == "delete" and data:
            i = draw(st.integers(0, len(data) - 1))
            del data[i : i + draw(st.integers(1, 130))]
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=130))
        if not data:
            break
    return bytes(data)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@settings(max_examples=150)
@given(data=st.data())
def test_mutated_states_fail_only_with_ssz_error(name: str, data: st.DataObject) -> None:
    blob = data.draw(mutated(name))
    for layout in ("auto", name):
        try:
            state = load_state(blob, layout)
        except SSZError as exc:
            assert str(exc)
            continue
        state.prove_validator(0) if state.validator_count else None


@given(st.binary(max_size=2000))
def test_random_bytes_fail_only_with_ssz_error(blob: bytes) -> None:
    for layout in ("auto", "beaconkit-electra", "beaconkit-deneb"):
        with pytest.raises(SSZError):
            load_state(blob, layout)

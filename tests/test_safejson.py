"""Outside JSON is measured before it is decoded: a deep document is a ValueError, never a dead process."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import safejson

pytestmark = pytest.mark.unit

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


def test_why_a_recursion_error_is_not_enough() -> None:
    """py-ecc, imported with eth-account, lifts the recursion limit to 100,000: past the C stack."""
    import py_ecc  # noqa: F401

    assert sys.getrecursionlimit() >= 100_000
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ValueError, match="nests deeper than 64 levels"):
        safejson.loads(deep)


def test_depth_limit_is_exact() -> None:
    assert safejson.loads(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(ValueError):
        safejson.loads(b"[" * 65 + b"]" * 65)
    assert safejson.nesting_depth(b'{"a": [1, {"b": []}]}') == 4


@given(documents)
def test_same_as_json_for_sane_documents(doc: Any) -> None:
    text = json.dumps(doc)
    assert safejson.loads(text.encode()) == json.loads(text)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_value_or_a_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        safejson.loads(data)

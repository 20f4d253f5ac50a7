"""SHA-256 for Merkle trees: a multi-lane kernel for layers, hashlib for single nodes.

Merkleization only ever hashes 64-byte messages (two 32-byte children). The layer kernel hashes many
such messages at once, 16 lanes side by side so that LLVM vectorises the rounds; the second compression
block (padding of a 64-byte message) is a constant whose message schedule is precomputed. Single nodes
(proof verification, small containers) use hashlib, which doubles as an independent implementation.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

import numba
import numpy as np
import numpy.typing as npt

Chunks = npt.NDArray[np.uint8]  # shape (n, 32)

_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip
_H0 = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
    dtype=np.uint32,
)


def _padding_block_schedule() -> npt.NDArray[np.uint32]:
    """K[t] + W[t] for the constant second block of every 64-byte message (0x80, zeros, bit length 512)."""
    mask = 0xFFFFFFFF
    words = [0] * 64
    words[0], words[15] = 0x80000000, 512

    def rotr(x: int, n: int) -> int:
        return ((x >> n) | (x << (32 - n))) & mask

    for t in range(16, 64):
        s0 = rotr(words[t - 15], 7) ^ rotr(words[t - 15], 18) ^ (words[t - 15] >> 3)
        s1 = rotr(words[t - 2], 17) ^ rotr(words[t - 2], 19) ^ (words[t - 2] >> 10)
        words[t] = (words[t - 16] + s0 + words[t - 7] + s1) & mask
    return np.array([(int(_K[t]) + words[t]) & mask for t in range(64)], dtype=np.uint32)


_KW_PAD = _padding_block_schedule()
_LANES = 16


@numba.njit(cache=True, inline="always")
def _rotr(x: np.uint32, n: int) -> np.uint32:
    return (x >> np.uint32(n)) | (x << np.uint32(32 - n))


@numba.njit(cache=True, nogil=True)
def _hash64_kernel(data: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8]) -> None:  # pragma: no cover
    """out[32*i : 32*i+32] = sha256(data[64*i : 64*i+64]) for every i. Lane-major for SIMD."""
    n = data.size // 64
    lanes = _LANES
    w = np.empty((64, lanes), np.uint32)
    av = np.empty((68, lanes), np.uint32)  # a of round t is av[t+3]; b, c, d trail it
    ev = np.empty((68, lanes), np.uint32)  # e of round t is ev[t+3]; f, g, h trail it
    mid = np.empty((8, lanes), np.uint32)
    for base in range(0, n, lanes):
        m = min(lanes, n - base)
        for lane in range(lanes):
            src = (base + (lane if lane < m else 0)) * 64
            for t in range(16):
                p = src + 4 * t
                w[t, lane] = (
                    (np.uint32(data[p]) << np.uint32(24))
                    | (np.uint32(data[p + 1]) << np.uint32(16))
                    | (np.uint32(data[p + 2]) << np.uint32(8))
                    | np.uint32(data[p + 3])
                )
        for t in range(16, 64):
            for lane in range(lanes):
                x = w[t - 15, lane]
                y = w[t - 2, lane]
                s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint32(3))
                s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint32(10))
                w[t, lane] = w[t - 16, lane] + s0 + w[t - 7, lane] + s1
        for lane in range(lanes):
            av[3, lane] = _H0[0]
            av[2, lane] = _H0[1]
            av[1, lane] = _H0[2]
            av[0, lane] = _H0[3]
            ev[3, lane] = _H0[4]
            ev[2, lane] = _H0[5]
            ev[1, lane] = _H0[6]
            ev[0, lane] = _H0[7]
        for t in range(64):
            k = _K[t]
            for lane in range(lanes):
                a = av[t + 3, lane]
                b = av[t + 2, lane]
                c = av[t + 1, lane]
                d = av[t, lane]
                e = ev[t + 3, lane]
                f = ev[t + 2, lane]
                g = ev[t + 1, lane]
                h = ev[t, lane]
                t1 = h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + k + w[t, lane]
                t2 = (_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
                ev[t + 4, lane] = d + t1
                av[t + 4, lane] = t1 + t2
        for lane in range(lanes):
            mid[0, lane] = av[67, lane] + _H0[0]
            mid[1, lane] = av[66, lane] + _H0[1]
            mid[2, lane] = av[65, lane] + _H0[2]
            mid[3, lane] = av[64, lane] + _H0[3]
            mid[4, lane] = ev[67, lane] + _H0[4]
            mid[5, lane] = ev[66, lane] + _H0[5]
            mid[6, lane] = ev[65, lane] + _H0[6]
            mid[7, lane] = ev[64, lane] + _H0[7]
            av[3, lane] = mid[0, lane]
            av[2, lane] = mid[1, lane]
            av[1, lane] = mid[2, lane]
            av[0, lane] = mid[3, lane]
            ev[3, lane] = mid[4, lane]
            ev[2, lane] = mid[5, lane]
            ev[1, lane] = mid[6, lane]
            ev[0, lane] = mid[7, lane]
        for t in range(64):
            kw = _KW_PAD[t]
            for lane in range(lanes):
                a = av[t + 3, lane]
                b = av[t + 2, lane]
                c = av[t + 1, lane]
                d = av[t, lane]
                e = ev[t + 3, lane]
                f = ev[t + 2, lane]
                g = ev[t + 1, lane]
                h = ev[t, lane]
                t1 = h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + kw
                t2 = (_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
                ev[t + 4, lane] = d + t1
                av[t + 4, lane] = t1 + t2
        for lane in range(m):
            dst = (base + lane) * 32
            for j in range(8):
                v = (av[67 - j, lane] if j < 4 else ev[71 - j, lane]) + mid[j, lane]
                out[dst + 4 * j] = np.uint8(v >> np.uint32(24))
                out[dst + 4 * j + 1] = np.uint8((v >> np.uint32(16)) & np.uint32(255))
                out[dst + 4 * j + 2] = np.uint8((v >> np.uint32(8)) & np.uint32(255))
                out[dst + 4 * j + 3] = np.uint8(v & np.uint32(255))


# Below this many messages a thread pool costs more than it saves.
_PARALLEL_MIN = 1 << 15


def _threads() -> int:
    configured = os.environ.get("POOL_ORACLE_HASH_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, min(os.cpu_count() or 1, 8))


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="sha256")


@lru_cache(maxsize=1)
def task_pool() -> ThreadPoolExecutor:
    """For callers that parallelise whole batches; hashing inside its tasks stays on the task's thread."""
    return ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="ssz-batch", initializer=_mark_serial)


_local = threading.local()


def _mark_serial() -> None:
    _local.serial = True


@contextmanager
def serial_hashing() -> Iterator[None]:
    """Hash on the calling thread only (inside work that is already spread over threads)."""
    previous = getattr(_local, "serial", False)
    _local.serial = True
    try:
        yield
    finally:
        _local.serial = previous


def thread_count() -> int:
    return _threads()


def hash_pairs(pairs: npt.NDArray[np.uint8], out: Chunks | None = None) -> Chunks:
    """SHA-256 of each 64-byte row of `pairs` (shape (n, 64) or flat n*64); returns shape (n, 32),
    written into `out` (a contiguous (n, 32) array) when given."""
    flat = np.ascontiguousarray(pairs).reshape(-1)
    if flat.size % 64:
        raise ValueError(f"hash_pairs needs a multiple of 64 bytes, got {flat.size}")
    n = flat.size // 64
    if out is None:
        out = np.empty((n, 32), dtype=np.uint8)
    elif out.shape != (n, 32) or not out.flags.c_contiguous:
        raise ValueError(f"hash_pairs output must be a contiguous ({n}, 32) array")
    result = out
    out = out.reshape(-1)
    threads = _threads()
    if n < _PARALLEL_MIN or threads == 1 or getattr(_local, "serial", False):
        _hash64_kernel(flat, out)
    else:
        step = -(-n // threads)
        step += -step % _LANES
        futures = [
            _pool().submit(
                _hash64_kernel, flat[64 * lo : 64 * min(n, lo + step)], out[32 * lo : 32 * min(n, lo + step)]
            )
            for lo in range(0, n, step)
        ]
        for future in futures:
            future.result()
    return result


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(left + right).digest()


def _zero_hashes(depth: int) -> list[bytes]:
    zeros = [b"\x00" * 32]
    for _ in range(depth):
        zeros.append(hash_node(zeros[-1], zeros[-1]))
    return zeros


# Roots of all-zero subtrees by height; 64 covers every list limit the layouts use (2^40 and below).
ZERO_HASHES: list[bytes] = _zero_hashes(64)
ZERO_HASH_ARRAY: Chunks = np.frombuffer(b"".join(ZERO_HASHES), dtype=np.uint8).reshape(-1, 32)


def warm_up() -> None:
    """Compile (or load the cached) kernel before timing-sensitive work."""
    hash_pairs(np.zeros((1, 64), dtype=np.uint8))

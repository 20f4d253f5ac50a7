"""py-ssz as an independent reference: our declarations translated to its sedes, nothing else shared."""

from __future__ import annotations

from typing import Any

import ssz
import ssz.sedes as sedes

from oracle.ssz import types as t


def to_sedes(sszt: t.SSZType) -> Any:
    if isinstance(sszt, t.Boolean):
        return sedes.boolean
    if isinstance(sszt, t.UInt):
        return sedes.UInt(sszt.bits)
    if isinstance(sszt, t.ByteVector):
        return sedes.ByteVector(sszt.length)
    if isinstance(sszt, t.ByteList):
        return sedes.ByteList(sszt.limit)
    if isinstance(sszt, t.Bitvector):
        return sedes.Bitvector(sszt.length)
    if isinstance(sszt, t.Bitlist):
        return sedes.Bitlist(sszt.limit)
    if isinstance(sszt, t.Vector):
        return sedes.Vector(to_sedes(sszt.elem), sszt.length)
    if isinstance(sszt, t.List):
        return sedes.List(to_sedes(sszt.elem), sszt.limit)
    if isinstance(sszt, t.Container):
        return sedes.Container(tuple(to_sedes(ftype) for _, ftype in sszt.fields))
    raise TypeError(sszt.name)


def reference_root(sszt: t.SSZType, data: bytes) -> bytes:
    """Decode with py-ssz and hash with py-ssz."""
    sd = to_sedes(sszt)
    value = ssz.decode(data, sd)
    return bytes(ssz.get_hash_tree_root(value, sd))


def reference_decode(sszt: t.SSZType, data: bytes) -> Any:
    return ssz.decode(data, to_sedes(sszt))

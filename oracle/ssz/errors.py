"""The one error the SSZ engine raises for bad input."""

from __future__ import annotations


class SSZError(ValueError):
    """Malformed or unexpected SSZ input. Says which field and, when known, at which byte offset."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None) -> None:
        self.path = path
        self.offset = offset
        where = []
        if path:
            where.append(path)
        if offset is not None:
            where.append(f"byte {offset}")
        super().__init__(f"{' at '.join(where)}: {message}" if where else message)


class ProofError(ValueError):
    """A proof that does not verify, or that cannot be built for the requested index."""

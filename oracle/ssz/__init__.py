"""SSZ engine: layouts, flat merkleization, proofs, verification."""

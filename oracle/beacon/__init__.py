"""Beacon API access: endpoints with fallback, retries bounded by time, SSZ and JSON states, beacon-kit proofs."""

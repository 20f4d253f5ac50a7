"""Execution layer: contract wrappers, EIP-4788 reads, the signer and the transaction manager."""

"""pool-oracle: accounting oracle for validator-operated liquid-staking pools."""

__version__ = "0.1.0"

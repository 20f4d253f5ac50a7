"""The embedded devnet: a simulated beacon chain over the Beacon API, anvil, and reference contracts."""

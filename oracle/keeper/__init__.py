"""The keeper: the pools' permissionless duties (activation, withdrawal finalization, processRewards,
retryFullExit). Any key with gas can do them; none needs FEEDER_ROLE. Each duty is a plain function from what
the cycle read (a `KeeperView`) to the actions due; `run` sends them through the one transaction manager and
journal that reports use."""

"""Many-validator pools (the reference ValidatorSetPool on Ethereum layouts): their validators' total balance
reported with SSZ multiproofs, in batches against one root the contract pins, beside the keeper's duties."""

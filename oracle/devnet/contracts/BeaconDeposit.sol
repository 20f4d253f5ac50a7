// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// The devnet's deposit contract, installed at 0x4242…4242 as on Berachain. Its Deposit events feed the
/// simulated beacon chain's pending deposits.
contract BeaconDeposit {
    event Deposit(bytes pubkey, bytes credentials, uint64 amount, bytes signature, uint64 index);

    error InvalidPubKeyLength();
    error InvalidCredentialsLength();
    error InvalidSignatureLength();
    error DepositNotMultipleOfGwei();
    error DepositValueTooLow();

    uint64 public depositCount;

    function deposit(
        bytes calldata pubkey,
        bytes calldata credentials,
        bytes calldata signature,
        address /* operator */
    ) external payable {
        if (pubkey.length != 48) revert InvalidPubKeyLength();
        if (credentials.length != 32) revert InvalidCredentialsLength();
        if (signature.length != 96) revert InvalidSignatureLength();
        if (msg.value % 1 gwei != 0) revert DepositNotMultipleOfGwei();
        if (msg.value < 1 gwei) revert DepositValueTooLow();
        emit Deposit(pubkey, credentials, uint64(msg.value / 1 gwei), signature, depositCount++);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// The devnet's deposit contract, installed at 0x4242…4242 as on Berachain. Its Deposit events feed the
/// simulated beacon chain's pending deposits. Rules as in berachain/contracts src/pol/BeaconDeposit.sol:
/// the first deposit of a pubkey names its operator (never zero), later ones must pass address(0); every
/// deposit is at least the minimum (10,000 BERA on Berachain) and a whole number of gwei.
contract BeaconDeposit {
    event Deposit(bytes pubkey, bytes credentials, uint64 amount, bytes signature, uint64 index);
    event OperatorUpdated(bytes indexed pubkey, address newOperator, address previousOperator);

    error InvalidPubKeyLength();
    error InvalidCredentialsLength();
    error InvalidSignatureLength();
    error DepositNotMultipleOfGwei();
    error DepositValueTooHigh();
    error InsufficientDeposit();
    error ZeroOperatorOnFirstDeposit();
    error OperatorAlreadySet();

    /// Slot 0, written by the devnet with anvil_setStorageAt (the code is installed, not constructed):
    /// the minimum deposit in gwei; 0 means Berachain's 10,000 BERA.
    uint256 internal minDepositGwei;
    uint64 public depositCount;
    mapping(bytes => address) internal operators;

    function getOperator(bytes calldata pubkey) external view returns (address) {
        return operators[pubkey];
    }

    function deposit(bytes calldata pubkey, bytes calldata credentials, bytes calldata signature, address operator)
        external
        payable
    {
        if (pubkey.length != 48) revert InvalidPubKeyLength();
        if (credentials.length != 32) revert InvalidCredentialsLength();
        if (signature.length != 96) revert InvalidSignatureLength();
        if (operators[pubkey] == address(0)) {
            if (operator == address(0)) revert ZeroOperatorOnFirstDeposit();
            operators[pubkey] = operator;
            emit OperatorUpdated(pubkey, operator, address(0));
        } else if (operator != address(0)) {
            revert OperatorAlreadySet();
        }
        if (msg.value % 1 gwei != 0) revert DepositNotMultipleOfGwei();
        uint256 amount = msg.value / 1 gwei;
        if (amount > type(uint64).max) revert DepositValueTooHigh();
        uint256 minimum = minDepositGwei == 0 ? 10_000 gwei : minDepositGwei;
        if (amount < minimum) revert InsufficientDeposit();
        emit Deposit(pubkey, credentials, uint64(amount), signature, depositCount++);
    }
}

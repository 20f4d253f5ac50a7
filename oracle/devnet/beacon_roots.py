"""EIP-4788's beacon-roots contract as the devnet installs it: its address, its code (the EIP's bytecode), the
system address that writes it, and the length of its ring of timestamps and roots."""

BEACON_ROOTS = "0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02"
BEACON_ROOTS_CODE = (
    "0x3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f35801560495762001fff810690"
    "815414603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff42064281555f359062001fff015500"
)
SYSTEM_ADDRESS = "0xfffffffffffffffffffffffffffffffffffffffe"
HISTORY_BUFFER_LENGTH = 8191

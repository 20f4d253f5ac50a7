// An independent client reads the devnet's Beacon API: Lodestar's own API client and SSZ types (pinned in
// tools/package.json). Prints one JSON document of what it read; any response Lodestar cannot decode throws,
// and that is a devnet bug. Usage: node read_devnet.mjs BASE_URL
import {getClient} from "@lodestar/api";
import {createChainForkConfig} from "@lodestar/config";
import {ssz} from "@lodestar/types";

const toHex = (bytes) => "0x" + Buffer.from(bytes).toString("hex");
const baseUrl = process.argv[2];
// The devnet's Ethereum layout is Electra from genesis.
const config = createChainForkConfig({
  ALTAIR_FORK_EPOCH: 0, BELLATRIX_FORK_EPOCH: 0, CAPELLA_FORK_EPOCH: 0, DENEB_FORK_EPOCH: 0, ELECTRA_FORK_EPOCH: 0,
});
const api = getClient({baseUrl, timeoutMs: 60_000}, {config});

const genesis = (await api.beacon.getGenesis()).value();
const spec = (await api.config.getSpec()).value();
const syncing = (await api.node.getSyncingStatus()).value();
const head = (await api.beacon.getBlockHeader({blockId: "head"})).value();
const slot = head.header.message.slot;
const validators = (await api.beacon.postStateValidators({stateId: String(slot), validatorIds: [0, 1]})).value();

const stateResponse = await api.debug.getStateV2({stateId: String(slot)}, {responseWireFormat: "ssz"});
const bytes = stateResponse.ssz();
const fork = stateResponse.meta().version;
const state = ssz[fork].BeaconState.deserialize(bytes);
const stateRoot = ssz[fork].BeaconState.hashTreeRoot(state);
// The header of the block whose post-state this is, with its state_root filled in, hashes to the block root.
// (Fields copied one by one: a spread would also copy the value's cached root.)
const {slot: headerSlot, proposerIndex, parentRoot, bodyRoot} = state.latestBlockHeader;
const header = {slot: headerSlot, proposerIndex, parentRoot, stateRoot, bodyRoot};
const blockRoot = ssz.phase0.BeaconBlockHeader.hashTreeRoot(header);

console.log(JSON.stringify({
  genesis_validators_root: toHex(genesis.genesisValidatorsRoot),
  genesis_time: genesis.genesisTime,
  seconds_per_slot: spec.SECONDS_PER_SLOT,
  head_slot: syncing.headSlot,
  header_slot: slot,
  header_root: toHex(head.root),
  header_state_root: toHex(head.header.message.stateRoot),
  validators: validators.map((v) => ({index: v.index, balance: v.balance, pubkey: toHex(v.validator.pubkey)})),
  state_fork: fork,
  state_bytes: bytes.length,
  state_slot: state.slot,
  state_validators: state.validators.length,
  state_root: toHex(stateRoot),
  block_root: toHex(blockRoot),
}));

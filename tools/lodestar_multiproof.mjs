// An independent reference for pool-oracle's SSZ multiproofs: Lodestar's SSZ types (@lodestar/types, mainnet
// preset) deserialize and merkleize a serialized beacon state, the block header is rebuilt over that state's
// tree, and Lodestar's persistent-merkle-tree (createProof, type multi) proves the requested gindices from the
// block root. Nothing here comes from pool-oracle but the state's bytes and the gindices asked for.
//
// Usage: node lodestar_multiproof.mjs REQUEST.json
//   REQUEST: {"cases": [{"fork": "electra", "state": "/path/state.ssz", "gindices": ["<decimal>", ...],
//                        "paths": [["balances", 5], ["validators", 3, "pubkey"], ...]}]}
// Prints one JSON array, per case: the state and block roots, the proof's gindices, leaves and witnesses as
// createProof returns them, and each path's gindex in the state as Lodestar's type computes it.
import {readFileSync} from "node:fs";
import {createProof, ProofType, setHasher, Tree} from "@chainsafe/persistent-merkle-tree";
import {ssz} from "@lodestar/types";

// Lodestar's beacon node hashes with the native hashtree library; the pure-JS default is five times slower.
try {
  setHasher((await import("@chainsafe/persistent-merkle-tree/hasher/hashtree")).hasher);
} catch {
  // no hashtree build for this platform: the default hasher gives the same roots
}

const toHex = (bytes) => "0x" + Buffer.from(bytes).toString("hex");
// The block header's state_root field: leaf 3 of the header's 8 (depth 3), generalized index 8 + 3.
const HEADER_STATE_ROOT_GINDEX = 11n;

const views = new Map(); // a state file is deserialized and hashed once, however many cases prove it

function stateView(stateType, state) {
  if (!views.has(state)) views.set(state, stateType.deserializeToView(readFileSync(state)));
  return views.get(state);
}

function proveCase({fork, state, gindices, paths = []}) {
  const stateType = ssz[fork]?.BeaconState;
  if (!stateType) throw new Error(`Lodestar has no BeaconState for fork ${fork}`);
  const view = stateView(stateType, state);
  const stateRoot = view.hashTreeRoot();
  const latest = view.latestBlockHeader;
  const header = {
    slot: latest.slot,
    proposerIndex: latest.proposerIndex,
    parentRoot: latest.parentRoot,
    stateRoot,
    bodyRoot: latest.bodyRoot,
  };
  const tree = new Tree(ssz.phase0.BeaconBlockHeader.value_toTree(header));
  const blockRoot = tree.root;
  // Hang the state's whole tree under the header, so gindices reach below the state root.
  tree.setNode(HEADER_STATE_ROOT_GINDEX, view.node);
  if (toHex(tree.root) !== toHex(blockRoot)) throw new Error("the state's tree changed the block root");
  const proof = createProof(tree.rootNode, {type: ProofType.multi, gindices: gindices.map((g) => BigInt(g))});
  return {
    state_root: toHex(stateRoot),
    block_root: toHex(blockRoot),
    gindices: proof.gindices.map((g) => g.toString()),
    leaves: proof.leaves.map(toHex),
    witnesses: proof.witnesses.map(toHex),
    path_gindices: paths.map((path) => stateType.getPathInfo(path).gindex.toString()),
  };
}

const request = JSON.parse(readFileSync(process.argv[2], "utf8"));
console.log(JSON.stringify(request.cases.map(proveCase)));

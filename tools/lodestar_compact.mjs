// An independent reference for pool-oracle's compact multiproofs (Lodestar's GET /eth/v0/beacon/proof/state/{id}):
// Lodestar's persistent-merkle-tree computes descriptors (computeDescriptor), proves a descriptor from a state's
// tree (createCompactMultiProof through createProof, as Lodestar's beacon node does on state.node) and rebuilds
// a compact proof's root (createNodeFromCompactMultiProof through createNodeFromProof); Lodestar's SSZ types
// deserialize and merkleize the state. Optionally, Lodestar's own API client fetches the same proof from a
// Beacon API (JSON and SSZ). Nothing here comes from pool-oracle but the state's bytes, the gindices,
// descriptors and leaves asked about.
//
// Usage: node lodestar_compact.mjs REQUEST.json
//   REQUEST: {"descriptors": [["<decimal gindex>", ...], ...], "bitlists": ["0x<descriptor>", ...],
//             "cases": [{"fork": "electra", "state": "/path/state.ssz", "descriptor": "0x..", "leaves": ["0x.."]}],
//             "api": {"base_url": "http://...", "state_id": "head", "descriptor": "0x.."}}   (all optional)
// Prints one JSON object: the descriptors' hex, each bitlist as 0/1 text (or the error it throws), per case the state root, Lodestar's leaves, the root Lodestar
// rebuilds from its own leaves and from the given leaves (or the error it throws), and the API's answers.
import {readFileSync} from "node:fs";
import {
  computeDescriptor,
  createNodeFromProof,
  createProof,
  descriptorToBitlist,
  ProofType,
  setHasher,
} from "@chainsafe/persistent-merkle-tree";
import {ssz} from "@lodestar/types";

try {
  setHasher((await import("@chainsafe/persistent-merkle-tree/hasher/hashtree")).hasher);
} catch {
  // no hashtree build for this platform: the default hasher gives the same roots
}

const toHex = (bytes) => "0x" + Buffer.from(bytes).toString("hex");
const fromHex = (hex) => new Uint8Array(Buffer.from(hex.replace(/^0x/, ""), "hex"));

function rebuild(leaves, descriptor) {
  try {
    return toHex(createNodeFromProof({type: ProofType.compactMulti, leaves, descriptor}).root);
  } catch (e) {
    return {error: String(e.message)};
  }
}

function proveCase({fork, state, descriptor, leaves = null}) {
  const stateType = ssz[fork]?.BeaconState;
  if (!stateType) throw new Error(`Lodestar has no BeaconState for fork ${fork}`);
  const view = stateType.deserializeToView(readFileSync(state));
  const desc = fromHex(descriptor);
  const proof = createProof(view.node, {type: ProofType.compactMulti, descriptor: desc});
  return {
    state_root: toHex(view.hashTreeRoot()),
    leaves: proof.leaves.map(toHex),
    root_from_own_leaves: rebuild(proof.leaves, desc),
    root_from_given_leaves: leaves === null ? null : rebuild(leaves.map(fromHex), desc),
  };
}

async function viaApi({base_url, state_id, descriptor}) {
  const {getClient} = await import("@lodestar/api");
  const {createChainForkConfig} = await import("@lodestar/config");
  const config = createChainForkConfig({
    ALTAIR_FORK_EPOCH: 0, BELLATRIX_FORK_EPOCH: 0, CAPELLA_FORK_EPOCH: 0, DENEB_FORK_EPOCH: 0, ELECTRA_FORK_EPOCH: 0,
  });
  const api = getClient({baseUrl: base_url, timeoutMs: 60_000}, {config});
  const desc = fromHex(descriptor);
  const out = {};
  for (const format of ["json", "ssz"]) {
    const response = await api.proof.getStateProof({stateId: state_id, descriptor: desc}, {responseWireFormat: format});
    const proof = response.value();
    out[format] = {
      version: response.meta().version,
      descriptor: toHex(proof.descriptor),
      leaves: proof.leaves.map(toHex),
      root: rebuild(proof.leaves, proof.descriptor),
    };
  }
  return out;
}

function bitlist(descriptor) {
  try {
    return descriptorToBitlist(fromHex(descriptor)).map((bit) => (bit ? "1" : "0")).join("");
  } catch (e) {
    return {error: String(e.message)};
  }
}

const request = JSON.parse(readFileSync(process.argv[2], "utf8"));
console.log(
  JSON.stringify({
    descriptors: (request.descriptors ?? []).map((gindices) => toHex(computeDescriptor(gindices.map(BigInt)))),
    bitlists: (request.bitlists ?? []).map(bitlist),
    cases: (request.cases ?? []).map(proveCase),
    api: request.api ? await viaApi(request.api) : null,
  })
);

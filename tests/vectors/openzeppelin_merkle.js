// Build StandardMerkleTrees with @openzeppelin/merkle-tree for tests/vectors/test_openzeppelin_merkle.py.
// stdin: [{"values": [[...], ...], "encoding": ["bytes32"], "multi": [[valueIndex, ...], ...]}, ...]
// stdout: [{"root", "proofs": [[hex...] per value], "multi": [{leaves, proof, proofFlags}], "dump"}, ...]
"use strict";
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const output = input.map(({ values, encoding, multi }) => {
  const tree = StandardMerkleTree.of(values, encoding);
  return {
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
    multi: multi.map((indices) => tree.getMultiProof(indices)),
    dump: tree.dump(),
  };
});
process.stdout.write(JSON.stringify(output));

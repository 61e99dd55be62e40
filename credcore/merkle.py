"""Merkle trees byte-compatible with OpenZeppelin's ``StandardMerkleTree`` (@openzeppelin/merkle-tree 1.x).

Issuance batches are anchored on chain as one root; a credential's inclusion is checked with OZ
``MerkleProof.verify``/``multiProofVerify``. So roots, proofs, multiproofs and the ``standard-v1`` dump
must equal the npm library's byte for byte (``tests/vectors/test_openzeppelin_merkle.py`` compares them):

- leaf = ``keccak256(keccak256(abi.encode(leaf_encoding, value)))``: double-hashed, so a 64-byte internal
  node can never be replayed as a leaf (OZ MerkleProof WARNING);
- node = ``keccak256(sorted(a, b))``: commutative, so proofs carry no left/right flags;
- leaves sorted by hash, stored in reverse at the end of a heap-ordered array (children of ``i`` at
  ``2i+1``/``2i+2``); proofs walk sibling by sibling to the root (OZ ``core.ts``).

Why hand-written: no maintained Python port exists. Why the keccak detour: ``hashlib`` has only SHA-3 (different
padding). eth-hash's pycryptodome backend spends most of each hash in Python-level set-up; calling pycryptodome's
keccak C functions directly with one reused state skips it, which keeps a 1,000,000-leaf batch with every proof
inside the anchoring budget (``tests/bench/test_merkle_bench.py``). That fast path uses pycryptodome's cffi handle
(pinned version); it is self-tested at import and falls back to the public API.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

from Crypto.Hash import keccak as _keccak_mod

from credcore.errors import MalformedInputError, NotFoundError

__all__ = [
    "BYTES32",
    "MultiProof",
    "StandardMerkleTree",
    "keccak256",
    "leaf_hash",
    "node_hash",
    "process_multi_proof",
    "process_proof",
    "verify_multi_proof",
    "verify_proof",
]

#: The leaf encoding civicpass anchors: one credential digest per leaf.
BYTES32: Final = ("bytes32",)
_FORMAT: Final = "standard-v1"
_HEX: Final = re.compile(r"(0x)?([0-9a-fA-F]{2})*")
# keccak256("") and keccak256("abc"): the fast path must reproduce both before it is used
_KNOWN: Final = (
    (b"", bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")),
    (b"abc", bytes.fromhex("4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")),
)


def keccak256(data: bytes) -> bytes:
    """Ethereum's Keccak-256 (not NIST SHA3-256)."""
    return _keccak_mod.new(digest_bits=256, data=data).digest()


def _public_hasher() -> Callable[[bytes], bytes]:
    return keccak256


def _fast_hasher() -> Callable[[bytes], bytes]:
    """A keccak256 function over one private C state, without the public API's per-call set-up. Not for sharing
    between threads: every bulk operation makes its own."""
    raw: Any = importlib.import_module("Crypto.Util._raw_api")
    lib: Any = getattr(_keccak_mod, "_raw_keccak_lib", None)
    if raw.backend != "cffi" or lib is None:
        return _public_hasher()
    holder = raw.VoidPointer()
    if lib.keccak_init(holder.address_of(), raw.c_size_t(64), 24):  # capacity 512 bits, 24 rounds
        return _public_hasher()
    state = raw.SmartPointer(holder.get(), lib.keccak_destroy)
    handle = state.get()
    out = raw.ffi.new("uint8_t[32]")
    view = raw.ffi.buffer(out)
    reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest

    def hasher(data: bytes) -> bytes:
        reset(handle)
        absorb(handle, data, len(data))
        digest(handle, out, 32, 0x01)  # 0x01: original Keccak padding, as Ethereum uses
        return bytes(view)

    hasher.state = state  # type: ignore[attr-defined]  # keep the C state alive with the closure
    if any(hasher(data) != digest_ for data, digest_ in _KNOWN):
        return _public_hasher()
    return hasher


# --- leaf values -----------------------------------------------------------------------------------
def _normalise(value: Any, leaf_encoding: Sequence[str]) -> tuple[Any, ...]:
    """A leaf value as a tuple of Python values; ``bytes32`` leaves may be given as bare bytes or hex."""
    if isinstance(value, bytes | str) and len(leaf_encoding) == 1:
        value = (value,)
    if not isinstance(value, Sequence) or isinstance(value, bytes | str) or len(value) != len(leaf_encoding):
        raise MalformedInputError("leaf value does not match the leaf encoding")
    return tuple(_field(v, t) for v, t in zip(value, leaf_encoding, strict=True))


def _field(v: Any, abi_type: str) -> Any:
    if abi_type.startswith("bytes"):
        if isinstance(v, str):
            if _HEX.fullmatch(v) is None:
                raise MalformedInputError("leaf field is not hex")
            v = bytes.fromhex(v.removeprefix("0x"))
        if not isinstance(v, bytes) or (abi_type != "bytes" and len(v) != int(abi_type[5:] or 0)):
            raise MalformedInputError(f"leaf field is not {abi_type}")
        return v
    if abi_type.startswith(("uint", "int")) and isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            raise MalformedInputError("leaf field is not an integer") from None
    return v


def _encode(value: tuple[Any, ...], leaf_encoding: Sequence[str]) -> bytes:
    if tuple(leaf_encoding) == BYTES32:
        # abi.encode(bytes32) is the 32 bytes themselves; skip eth_abi on the hot path
        encoded: bytes = value[0]
        return encoded
    from eth_abi.abi import encode
    from eth_abi.exceptions import EncodingError

    try:
        return encode(list(leaf_encoding), list(value))
    except (EncodingError, ValueError, TypeError) as exc:
        raise MalformedInputError(f"leaf value cannot be ABI-encoded: {exc.__class__.__name__}") from None


def _json_field(v: Any) -> Any:
    return "0x" + v.hex() if isinstance(v, bytes) else str(v) if isinstance(v, int) and not isinstance(v, bool) else v


def leaf_hash(value: Any, leaf_encoding: Sequence[str] = BYTES32) -> bytes:
    """OZ ``standardLeafHash``: ``keccak256(keccak256(abi.encode(types, value)))``."""
    return keccak256(keccak256(_encode(_normalise(value, leaf_encoding), leaf_encoding)))


def node_hash(a: bytes, b: bytes) -> bytes:
    """OZ ``standardNodeHash``: the hash of the two children in ascending order."""
    return keccak256(a + b if a < b else b + a)


def _check_node(node: object) -> bytes:
    if not isinstance(node, bytes) or len(node) != 32:
        raise MalformedInputError("Merkle tree nodes must be 32 bytes")
    return node


# --- single and multi proofs -------------------------------------------------------------------------------
def process_proof(leaf: bytes, proof: Iterable[bytes]) -> bytes:
    """The root implied by a leaf *hash* and its proof (OZ ``processProof``)."""
    h = _fast_hasher()
    node = _check_node(leaf)
    for sibling in proof:
        _check_node(sibling)
        node = h(node + sibling if node < sibling else sibling + node)
    return node


def verify_proof(root: bytes, leaf_value: Any, proof: Iterable[bytes], leaf_encoding: Sequence[str] = BYTES32) -> bool:
    """True if ``leaf_value`` is in the tree with ``root`` (OZ ``StandardMerkleTree.verify``)."""
    return process_proof(leaf_hash(leaf_value, leaf_encoding), proof) == _check_node(root)


@dataclass(frozen=True, slots=True)
class MultiProof:
    """OZ multiproof: the leaf values in the order the proof consumes them, siblings, and flags."""

    leaves: tuple[tuple[Any, ...], ...]
    proof: tuple[bytes, ...]
    proof_flags: tuple[bool, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "leaves": [[_json_field(f) for f in v] for v in self.leaves],
            "proof": ["0x" + p.hex() for p in self.proof],
            "proofFlags": list(self.proof_flags),
        }


def process_multi_proof(leaves: Sequence[bytes], proof: Sequence[bytes], proof_flags: Sequence[bool]) -> bytes:
    """The root implied by leaf *hashes*, siblings and flags (OZ ``processMultiProof``)."""
    for node in (*leaves, *proof):
        _check_node(node)
    if len(proof) < sum(1 for f in proof_flags if not f):
        raise MalformedInputError("Invalid multiproof format")
    if len(leaves) + len(proof) != len(proof_flags) + 1:
        raise MalformedInputError("Provided leaves and multiproof are not compatible")
    h = _fast_hasher()
    queue, siblings = list(leaves), iter(proof)
    head = 0
    for flag in proof_flags:
        a = queue[head]
        b = queue[head + 1] if flag else next(siblings)
        head += 2 if flag else 1
        queue.append(h(a + b if a < b else b + a))
    rest = list(siblings)
    if len(queue) - head + len(rest) != 1:  # pragma: no cover - excluded by the length checks
        raise MalformedInputError("Invalid multiproof")
    return queue[head] if head < len(queue) else rest[0]


def verify_multi_proof(root: bytes, multiproof: MultiProof, leaf_encoding: Sequence[str] = BYTES32) -> bool:
    """True if every leaf of ``multiproof`` is in the tree with ``root`` (OZ ``verifyMultiProof``)."""
    hashes = [leaf_hash(v, leaf_encoding) for v in multiproof.leaves]
    return process_multi_proof(hashes, multiproof.proof, multiproof.proof_flags) == _check_node(root)


# --- the tree ------------------------------------------------------------------------------------------
class StandardMerkleTree:
    """An OZ standard Merkle tree over ``values``; immutable once built."""

    __slots__ = ("_lookup", "_tree", "_tree_index", "leaf_encoding", "values")

    def __init__(
        self,
        tree: list[bytes],
        values: tuple[tuple[Any, ...], ...],
        tree_index: list[int],
        leaf_encoding: Sequence[str],
    ) -> None:
        self._tree = tree
        self.values = values
        self._tree_index = tree_index
        self.leaf_encoding = tuple(leaf_encoding)
        self._lookup: dict[bytes, int] | None = None

    @classmethod
    def of(cls, values: Iterable[Any], leaf_encoding: Sequence[str] = BYTES32) -> StandardMerkleTree:
        """Build the tree (OZ ``StandardMerkleTree.of`` with the default ``sortLeaves: true``)."""
        encoding = tuple(leaf_encoding)
        if encoding == BYTES32:  # fast path for the anchoring hot loop
            normalised = tuple(
                (v,) if isinstance(v, bytes) and len(v) == 32 else _normalise(v, encoding) for v in values
            )
        else:
            normalised = tuple(_normalise(v, encoding) for v in values)
        if not normalised:
            raise MalformedInputError("Expected non-zero number of leaves")
        h = _fast_hasher()
        if encoding == BYTES32:
            hashes = [h(h(v[0])) for v in normalised]
        else:
            hashes = [h(h(_encode(v, encoding))) for v in normalised]
        order = sorted(range(len(hashes)), key=hashes.__getitem__)
        n = len(hashes)
        size = 2 * n - 1
        tree: list[bytes] = [b""] * size
        tree_index = [0] * n
        for position, value_index in enumerate(order):
            tree[size - 1 - position] = hashes[value_index]
            tree_index[value_index] = size - 1 - position
        for i in range(size - 1 - n, -1, -1):
            a, b = tree[2 * i + 1], tree[2 * i + 2]
            tree[i] = h(a + b if a < b else b + a)
        return cls(tree, normalised, tree_index, encoding)

    # --- reading --------------------------------------------------------------------------------
    @property
    def root(self) -> bytes:
        return self._tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def leaf_hash(self, index: int) -> bytes:
        return self._tree[self._tree_index[self._value_index(index)]]

    def _value_index(self, leaf: Any) -> int:
        if isinstance(leaf, int) and not isinstance(leaf, bool):
            if not 0 <= leaf < len(self.values):
                raise NotFoundError("Index out of bounds")
            return leaf
        if self._lookup is None:
            self._lookup = {self._tree[t]: i for i, t in enumerate(self._tree_index)}
        found = self._lookup.get(leaf_hash(leaf, self.leaf_encoding))
        if found is None:
            raise NotFoundError("Leaf is not in tree")
        return found

    # --- proofs ---------------------------------------------------------------------------------
    def get_proof(self, leaf: Any) -> tuple[bytes, ...]:
        """Siblings from the leaf up to the root; ``leaf`` is a value index or the value itself."""
        i = self._tree_index[self._value_index(leaf)]
        tree, proof = self._tree, []
        while i > 0:
            proof.append(tree[((i - 1) ^ 1) + 1])  # sibling: i+1 for odd i, i-1 for even i
            i = (i - 1) >> 1
        return tuple(proof)

    def all_proofs(self) -> list[tuple[bytes, ...]]:
        """Every value's proof, in value order: one depth-first walk that shares path prefixes, ~10x
        faster than ``get_proof`` per leaf (issuance stores one proof per credential)."""
        tree, size, first_leaf = self._tree, len(self._tree), len(self.values) - 1
        by_node: list[tuple[bytes, ...]] = [()] * len(self.values)
        path: list[bytes] = []  # path[k]: sibling of the depth-(k+1) node on the way down
        stack = [(0, 0)]
        while stack:
            i, depth = stack.pop()
            if depth:
                del path[depth - 1 :]
                path.append(tree[((i - 1) ^ 1) + 1])
            left = 2 * i + 1
            if left < size:
                stack.append((left + 1, depth + 1))
                stack.append((left, depth + 1))
            else:
                by_node[i - first_leaf] = tuple(reversed(path))
        return [by_node[t - first_leaf] for t in self._tree_index]

    def get_multi_proof(self, leaves: Iterable[Any]) -> MultiProof:
        """OZ ``getMultiProof``: one proof for several leaves (value indices or values)."""
        indices = sorted((self._tree_index[self._value_index(v)] for v in leaves), reverse=True)
        if any(a == b for a, b in pairwise(indices)):
            raise MalformedInputError("Cannot prove duplicated index")
        tree, queue, head = self._tree, list(indices), 0
        proof: list[bytes] = []
        flags: list[bool] = []
        while head < len(queue) and queue[head] > 0:
            j = queue[head]
            head += 1
            sibling = ((j - 1) ^ 1) + 1
            if head < len(queue) and queue[head] == sibling:
                flags.append(True)
                head += 1
            else:
                flags.append(False)
                proof.append(tree[sibling])
            queue.append((j - 1) >> 1)
        if not indices:
            proof.append(tree[0])
        if self._lookup is None:
            self._lookup = {self._tree[t]: i for i, t in enumerate(self._tree_index)}
        values = tuple(self.values[self._lookup[tree[i]]] for i in indices)
        return MultiProof(values, tuple(proof), tuple(flags))

    def verify(self, leaf: Any, proof: Iterable[bytes]) -> bool:
        value = self.values[leaf] if isinstance(leaf, int) and not isinstance(leaf, bool) else leaf
        return verify_proof(self.root, value, proof, self.leaf_encoding)

    def verify_multi_proof(self, multiproof: MultiProof) -> bool:
        return verify_multi_proof(self.root, multiproof, self.leaf_encoding)

    # --- standard-v1 dump -------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` JSON object OZ's ``dump()`` produces."""
        return {
            "format": _FORMAT,
            "leafEncoding": list(self.leaf_encoding),
            "tree": ["0x" + n.hex() for n in self._tree],
            "values": [
                {"value": [_json_field(f) for f in v], "treeIndex": t}
                for v, t in zip(self.values, self._tree_index, strict=True)
            ],
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Load and fully validate a ``standard-v1`` dump (every node and every leaf is recomputed)."""
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise MalformedInputError("Unknown Merkle tree format")
        encoding, raw_tree, raw_values = data.get("leafEncoding"), data.get("tree"), data.get("values")
        if not isinstance(encoding, list) or not encoding or not all(isinstance(t, str) for t in encoding):
            raise MalformedInputError("Expected leaf encoding")
        if not isinstance(raw_tree, list) or not raw_tree or not isinstance(raw_values, list):
            raise MalformedInputError("Merkle tree dump needs 'tree' and 'values' lists")
        tree = [_check_node(_field(n, "bytes32") if isinstance(n, str) else n) for n in raw_tree]
        values, tree_index = [], []
        for entry in raw_values:
            t = entry.get("treeIndex") if isinstance(entry, Mapping) else None
            if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < len(tree) or 2 * t + 1 < len(tree):
                raise MalformedInputError("Merkle tree value has no valid leaf index")
            values.append(_normalise(entry.get("value"), encoding))
            tree_index.append(t)
        h = _fast_hasher()
        for i in range(len(tree)):
            left = 2 * i + 1
            if left + 1 < len(tree):
                a, b = tree[left], tree[left + 1]
                if tree[i] != h(a + b if a < b else b + a):
                    raise MalformedInputError("Merkle tree is invalid")
            elif left < len(tree):
                raise MalformedInputError("Merkle tree is invalid")
        for v, t in zip(values, tree_index, strict=True):
            if tree[t] != h(h(_encode(v, encoding))):
                raise MalformedInputError("Merkle tree does not contain the expected value")
        return cls(tree, tuple(values), tree_index, encoding)

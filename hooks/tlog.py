"""Verification math of the modelgov transparency log, without Django.

Both the server and an offline verifier import this module, so it depends only on the standard
library and ``cryptography``. It covers three formats:

* **Merkle trees** as defined by RFC 6962 section 2.1 and RFC 9162 section 2.1: leaf and node hashes,
  tree roots, inclusion proofs and consistency proofs, with verification that follows the
  algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step.
* **Checkpoints** (https://c2sp.org/tlog-checkpoint) carried in Ed25519 **signed notes**
  (https://c2sp.org/signed-note).
* **DSSE envelopes** (https://github.com/secure-systems-lab/dsse, protocol v1).

Storage model
-------------
The server does not keep whole trees in memory. It stores *perfect subtrees*: the subtree at
``(level, index)`` covers the ``2**level`` leaves ``[index * 2**level, (index + 1) * 2**level)``, so
level 0 holds the leaf hashes. When leaf ``i`` is appended, :func:`perfect_subtrees_to_store` returns
exactly the subtrees that leaf completes. Every root and every proof node is a hash over a range of
leaves, and any range splits into O(log n) perfect subtrees, so a proof against a tree of a million
leaves needs only a few dozen stored hashes. The ``needed_subtrees_for_*`` functions name them ahead
of time so that the server can load them all in one query, then hand them over as a mapping::

    wanted = needed_subtrees_for_inclusion(index, size)
    stored = {(level, idx): digest for level, idx, digest in load(wanted)}  # one query
    proof = inclusion_proof(index, size, stored)

Wherever a ``get_subtree`` argument is taken it may be either such a mapping from ``(level, index)``
to the 32-byte hash, or a callable ``get_subtree(level, index) -> bytes``.
"""

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_DSSE_SIGNATURES",
    "MAX_NOTE_CHARS",
    "MAX_NOTE_SIGNATURES",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "CompactRange",
    "EnvelopeError",
    "NoteError",
    "PerfectSubtree",
    "ProofError",
    "SubtreeId",
    "SubtreeSource",
    "consistency_proof",
    "dsse_sign",
    "dsse_verify",
    "ed25519_key_id",
    "inclusion_proof",
    "leaf_hash",
    "needed_subtrees_for_append",
    "needed_subtrees_for_consistency",
    "needed_subtrees_for_inclusion",
    "needed_subtrees_for_root",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "pae",
    "perfect_levels",
    "perfect_subtrees_to_store",
    "prefix_roots",
    "root_from_leaves",
    "root_from_subtrees",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root of the empty tree: SHA-256 of the empty string (RFC 6962 section 2.1)."""

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size a checkpoint may state (sizes are unsigned 64-bit integers elsewhere)."""

MAX_NOTE_SIGNATURES = 100
"""Signed notes with more signature lines are refused (the spec asks verifiers to accept 16)."""

MAX_NOTE_CHARS = 1 << 20
"""Signed notes longer than this are refused before any parsing."""

MAX_DSSE_SIGNATURES = 16
"""DSSE envelopes with more signatures are refused."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_ED25519_SIGNATURE_TYPE = b"\x01"
_NOTE_SIGNATURE_PREFIX = "\N{EM DASH} "
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x09\x0b-\x1f]")
_CANONICAL_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class ProofError(ValueError):
    """An inclusion or consistency proof does not verify, or its parameters are impossible."""


class NoteError(ValueError):
    """A signed note or checkpoint is malformed, or is not signed by the expected key."""


class EnvelopeError(ValueError):
    """A DSSE envelope is malformed, of the wrong payload type, or not signed by the given key."""


SubtreeId: TypeAlias = tuple[int, int]
"""``(level, index)`` of a perfect subtree: leaves ``[index * 2**level, (index + 1) * 2**level)``."""

SubtreeSource: TypeAlias = Callable[[int, int], bytes] | Mapping[tuple[int, int], bytes]
"""Where proof computations read perfect-subtree hashes: ``get(level, index)`` or a mapping."""


@dataclass(frozen=True, slots=True)
class PerfectSubtree:
    """A perfect subtree that has become complete, as the server persists it.

    It covers leaves ``[index * 2**level, (index + 1) * 2**level)``; ``hash`` is its 32-byte root.
    """

    level: int
    index: int
    hash: bytes


# --------------------------------------------------------------------------------------------------
# Hashing (RFC 6962 section 2.1)
# --------------------------------------------------------------------------------------------------


def leaf_hash(entry_bytes: bytes) -> bytes:
    """Hash of a log entry: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(_LEAF_PREFIX + entry_bytes).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of a whole list of leaf hashes; :data:`EMPTY_ROOT` for no leaves."""
    return prefix_roots(leaf_hashes, [len(leaf_hashes)])[len(leaf_hashes)]


def perfect_levels(leaf_hashes: Sequence[bytes]) -> Iterator[list[bytes]]:
    """The hashes of every perfect subtree, a level at a time: the leaves (level 0), then the
    ``n >> 1`` subtrees of two leaves, and so on up to the largest. ``level[index]`` is the subtree
    ``(level, index)``. Each level is one list comprehension over adjacent pairs (no Python call per
    node); the next level is hashed only when asked for."""
    level = list(leaf_hashes)
    sha256 = hashlib.sha256
    while level:
        yield level
        # Adjacent pairs; an unpaired last node is no perfect subtree of the next level.
        pairs = iter(level)
        level = [sha256(_NODE_PREFIX + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]


def prefix_roots(leaf_hashes: Sequence[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """MTH of ``leaf_hashes[:size]`` for every size, from one pass over the tree; ``{size: root}``.

    RFC 6962 defines MTH recursively, splitting ``n`` leaves at the largest power of two below ``n``,
    so the root of any prefix is the right fold of the perfect subtrees that tile it (what
    :func:`needed_subtrees_for_root` lists). This walks :func:`perfect_levels`, keeps only the
    subtrees the sizes need, and folds them: a verifier recomputes the root at every checkpoint of a
    log for the price of one root. Runs in O(n) time.
    """
    if set(map(len, leaf_hashes)) - {HASH_SIZE}:
        position, digest = next((at, digest) for at, digest in enumerate(leaf_hashes) if len(digest) != HASH_SIZE)
        raise ValueError(f"leaf hash {position} has {len(digest)} bytes, not {HASH_SIZE}")
    pieces = {size: _decompose(0, size) for size in sizes}
    for size in pieces:
        if not 0 <= size <= len(leaf_hashes):
            raise ValueError(f"size {size} is outside the {len(leaf_hashes)} leaves")
    wanted: dict[int, set[int]] = {}
    for tiling in pieces.values():
        for depth, index in tiling:
            wanted.setdefault(depth, set()).add(index)
    found: dict[SubtreeId, bytes] = {}
    height = max(wanted, default=-1)
    for depth, level in enumerate(perfect_levels(leaf_hashes)):
        found.update(((depth, index), level[index]) for index in wanted.get(depth, ()))
        if depth >= height:
            break
    return {size: _range_hash(tiling, _getter(found)) if tiling else EMPTY_ROOT for size, tiling in pieces.items()}


# --------------------------------------------------------------------------------------------------
# Perfect subtrees and ranges
# --------------------------------------------------------------------------------------------------


def _check_count(name: str, value: object) -> int:
    """Return ``value`` if it is a non-negative int (not a bool); raise ValueError otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    return value


def _check_leaf(leaf: object) -> None:
    if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")


def _split_point(size: int) -> int:
    """Largest power of two strictly below ``size`` (``size >= 2``): where RFC 6962 splits a tree."""
    return 1 << ((size - 1).bit_length() - 1)


def _decompose(start: int, end: int) -> list[SubtreeId]:
    """Split the leaf range ``[start, end)`` into perfect subtrees, left to right, greedily.

    Each step takes the largest subtree that is aligned at ``start`` and fits before ``end``, so any
    range yields at most about ``2 * log2(end - start)`` subtrees.
    """
    pieces: list[SubtreeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


def _getter(get_subtree: SubtreeSource) -> Callable[[int, int], bytes]:
    """Turn a mapping or callable into a ``get(level, index)`` that checks what it returns."""
    fetch: Callable[[int, int], bytes]
    if isinstance(get_subtree, Mapping):
        table = get_subtree

        def lookup(level: int, index: int) -> bytes:
            try:
                return table[(level, index)]
            except KeyError:
                raise KeyError(f"perfect subtree (level={level}, index={index}) was not supplied") from None

        fetch = lookup
    else:
        fetch = get_subtree

    def get(level: int, index: int) -> bytes:
        digest = fetch(level, index)
        if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
            raise ValueError(f"perfect subtree (level={level}, index={index}) is not a {HASH_SIZE}-byte hash")
        return digest

    return get


def _range_hash(pieces: Sequence[SubtreeId], get: Callable[[int, int], bytes]) -> bytes:
    """Hash of a tree node from its perfect subtrees (as :func:`_decompose` lists them).

    Every node of an RFC 6962 tree covers a range ``[start, end)`` whose start is a multiple of the
    smallest power of two that is at least ``end - start``. Such a range decomposes into perfect
    subtrees of strictly decreasing size, and the node hash is their right fold:
    ``node(p1, node(p2, ... node(p[m-1], p[m])))``.
    """
    digest = get(*pieces[-1])
    for level, index in reversed(pieces[:-1]):
        digest = node_hash(get(level, index), digest)
    return digest


def needed_subtrees_for_root(size: int) -> list[SubtreeId]:
    """The perfect subtrees whose hashes :func:`root_from_subtrees` reads for a tree of ``size``."""
    return _decompose(0, _check_count("size", size))


def root_from_subtrees(size: int, get_subtree: SubtreeSource) -> bytes:
    """Root of the tree of the first ``size`` leaves, from at most log2(size) + 1 stored subtrees."""
    pieces = needed_subtrees_for_root(size)
    if not pieces:
        return EMPTY_ROOT
    return _range_hash(pieces, _getter(get_subtree))


def needed_subtrees_for_append(new_leaf_index: int) -> list[SubtreeId]:
    """Left siblings that :func:`perfect_subtrees_to_store` reads when leaf ``new_leaf_index`` is added.

    There is one per trailing 1 bit of the index: appending leaf 7 (0b111) completes subtrees at
    levels 1, 2 and 3, whose left halves are ``(0, 6)``, ``(1, 2)`` and ``(2, 0)``.
    """
    index = _check_count("new_leaf_index", new_leaf_index)
    needed: list[SubtreeId] = []
    level = 0
    while (index >> level) & 1:
        needed.append((level, (index >> level) - 1))
        level += 1
    return needed


def perfect_subtrees_to_store(new_leaf_index: int, leaf: bytes, get_subtree: SubtreeSource) -> list[PerfectSubtree]:
    """The perfect subtrees that become complete when leaf ``new_leaf_index`` is appended.

    ``leaf`` is the leaf's hash (:func:`leaf_hash` of the entry), not the entry. The result
    starts with the leaf itself at level 0, then one subtree per trailing 1 bit of the index (level 1
    if the index is odd, level 2 if it is 3 modulo 4, ...), in increasing level. The server persists
    exactly these; their left siblings are read through ``get_subtree`` (see
    :func:`needed_subtrees_for_append`).
    """
    index = _check_count("new_leaf_index", new_leaf_index)
    _check_leaf(leaf)
    get = _getter(get_subtree)
    completed = [PerfectSubtree(0, index, leaf)]
    digest = leaf
    for level, left_index in needed_subtrees_for_append(index):
        digest = node_hash(get(level, left_index), digest)
        completed.append(PerfectSubtree(level + 1, index >> (level + 1), digest))
    return completed


class CompactRange:
    """Incremental Merkle tree over leaves ``[0, size)`` kept as a stack of perfect-subtree roots.

    The stack holds the perfect subtrees that :func:`needed_subtrees_for_root` lists for the current
    size, largest first, so memory is O(log n). Appending a leaf merges equal-sized subtrees at the
    top of the stack, which is also how the perfect subtrees to persist are found.
    """

    def __init__(self) -> None:
        """Start with the empty tree."""
        self._size = 0
        self._stack: list[bytes] = []

    @classmethod
    def from_subtrees(cls, size: int, get_subtree: SubtreeSource) -> "CompactRange":
        """Resume at ``size`` leaves from stored subtrees (those of :func:`needed_subtrees_for_root`)."""
        get = _getter(get_subtree)
        compact = cls()
        compact._stack = [get(level, index) for level, index in needed_subtrees_for_root(size)]
        compact._size = size
        return compact

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> list[PerfectSubtree]:
        """Add the next leaf hash; return the subtrees it completes, as :func:`perfect_subtrees_to_store`."""
        _check_leaf(leaf)
        index = self._size
        completed = [PerfectSubtree(0, index, leaf)]
        digest = leaf
        level, position = 0, index
        while position & 1:
            digest = node_hash(self._stack.pop(), digest)
            level, position = level + 1, position >> 1
            completed.append(PerfectSubtree(level, position, digest))
        self._stack.append(digest)
        self._size = index + 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes, without listing the completed subtrees: the fast way to a root."""
        stack, size, sha256 = self._stack, self._size, hashlib.sha256
        try:
            for leaf in leaves:
                _check_leaf(leaf)
                digest, position = leaf, size
                while position & 1:
                    digest = sha256(_NODE_PREFIX + stack.pop() + digest).digest()
                    position >>= 1
                stack.append(digest)
                size += 1
        finally:
            self._size = size

    def root(self) -> bytes:
        """Root of the tree of all leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


# --------------------------------------------------------------------------------------------------
# Proof construction (RFC 9162 sections 2.1.3.1 and 2.1.4.1)
# --------------------------------------------------------------------------------------------------


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges ``[start, end)`` of the inclusion proof nodes of leaf ``index``, leaf side first.

    This is RFC 9162's recursive PATH(m, D[n]) unrolled: walk down from the root, and at each split
    record the half that does not contain the leaf. Only a right sibling on the right edge of the tree
    can be an imperfect range; every other sibling is a single perfect subtree.
    """
    start, end = 0, size
    siblings: list[tuple[int, int]] = []
    while end - start > 1:
        middle = start + _split_point(end - start)
        if index < middle:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            start = middle
    siblings.reverse()
    return siblings


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges of the consistency proof nodes from ``old_size`` to ``new_size`` (0 < old < new).

    This is RFC 9162's PROOF(m, D[n]) = SUBPROOF(m, D[n], true) unrolled. The walk descends until
    the current node is exactly the old tree's last subtree ``[start, old_size)``. That node opens
    the proof unless it is the whole old tree (the flag ``b`` stayed true: the walk never went right),
    and the recorded siblings follow, deepest first.
    """
    start, end = 0, new_size
    whole_old_tree = True
    siblings: list[tuple[int, int]] = []
    while end != old_size:
        middle = start + _split_point(end - start)
        if old_size <= middle:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            start = middle
            whole_old_tree = False
    siblings.reverse()
    if not whole_old_tree:
        siblings.insert(0, (start, end))
    return siblings


def _check_inclusion_args(index: int, size: int) -> None:
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ValueError(f"leaf index {index} is not below the tree size {size}")


def _check_consistency_args(old_size: int, new_size: int) -> None:
    _check_count("old_size", old_size)
    _check_count("new_size", new_size)
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")


def _plan_consistency(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Like :func:`_consistency_ranges`, but empty when a proof is trivially empty."""
    if old_size == 0 or old_size == new_size:
        return []
    return _consistency_ranges(old_size, new_size)


def needed_subtrees_for_inclusion(index: int, size: int) -> list[SubtreeId]:
    """The perfect subtrees :func:`inclusion_proof` reads for leaf ``index`` in a tree of ``size``.

    O(log size) of them; the leaf itself is not among them, since a proof does not contain it.
    """
    _check_inclusion_args(index, size)
    return [piece for start, end in _inclusion_ranges(index, size) for piece in _decompose(start, end)]


def inclusion_proof(index: int, size: int, get_subtree: SubtreeSource) -> list[bytes]:
    """Inclusion proof (RFC 9162 PATH) of leaf ``index`` in the tree of the first ``size`` leaves.

    The hashes are ordered from the leaf's sibling up to the child of the root, as RFC 9162 and
    :func:`verify_inclusion` expect. Only the subtrees of :func:`needed_subtrees_for_inclusion` are read.
    """
    _check_inclusion_args(index, size)
    get = _getter(get_subtree)
    return [_range_hash(_decompose(start, end), get) for start, end in _inclusion_ranges(index, size)]


def needed_subtrees_for_consistency(old_size: int, new_size: int) -> list[SubtreeId]:
    """The perfect subtrees :func:`consistency_proof` reads; O(log new_size) of them."""
    _check_consistency_args(old_size, new_size)
    return [piece for start, end in _plan_consistency(old_size, new_size) for piece in _decompose(start, end)]


def consistency_proof(old_size: int, new_size: int, get_subtree: SubtreeSource) -> list[bytes]:
    """Consistency proof (RFC 9162 PROOF) that the first ``old_size`` leaves are a prefix of ``new_size``.

    Empty when ``old_size`` is 0 or equals ``new_size``. Only the subtrees of
    :func:`needed_subtrees_for_consistency` are read.
    """
    _check_consistency_args(old_size, new_size)
    get = _getter(get_subtree)
    return [_range_hash(_decompose(start, end), get) for start, end in _plan_consistency(old_size, new_size)]


# --------------------------------------------------------------------------------------------------
# Proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2)
# --------------------------------------------------------------------------------------------------


def _require_count(name: str, value: object) -> int:
    try:
        return _check_count(name, value)
    except ValueError as error:
        raise ProofError(str(error)) from None


def _require_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be a {HASH_SIZE}-byte hash")
    return value


def _require_proof(proof: Sequence[bytes], expected_length: int, what: str) -> list[bytes]:
    hashes_ = list(proof)
    if len(hashes_) != expected_length:
        raise ProofError(f"{what} has {len(hashes_)} hashes, but exactly {expected_length} are required")
    for position, digest in enumerate(hashes_):
        _require_hash(f"proof element {position}", digest)
    return hashes_


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Returns None on success and raises :class:`ProofError` otherwise. The proof must have exactly the
    length RFC 9162 prescribes for ``(index, size)``, so missing or extra elements are refused before
    any hashing; the hashing itself follows RFC 9162 section 2.1.3.2 step by step.
    """
    _require_hash("the leaf hash", leaf)
    _require_hash("the root", root)
    index = _require_count("index", index)
    size = _require_count("size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    path = _require_proof(proof, len(_inclusion_ranges(index, size)), "the inclusion proof")

    fn, sn = index, size - 1
    digest = leaf
    for element in path:
        if sn == 0:
            raise ProofError("the inclusion proof has more hashes than the tree has levels")
        if fn & 1 or fn == sn:
            digest = node_hash(element, digest)
            while fn and not fn & 1:  # Skip the levels where this node has no right sibling.
                fn, sn = fn >> 1, sn >> 1
        else:
            digest = node_hash(digest, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short to reach the root")
    if digest != root:
        raise ProofError(f"the inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree ``(old_size, old_root)`` is a prefix of ``(new_size, new_root)``.

    Returns None on success and raises :class:`ProofError` otherwise. Trivial cases are decided
    without hashing: equal sizes need equal roots and an empty proof, and old size 0 needs an empty
    proof and the empty-tree root. Otherwise the proof must have exactly the length RFC 9162
    prescribes, and is checked as RFC 9162 section 2.1.4.2 describes.
    """
    _require_hash("the old root", old_root)
    _require_hash("the new root", new_root)
    old_size = _require_count("old size", old_size)
    new_size = _require_count("new size", new_size)
    if old_size > new_size:
        raise ProofError(f"the old size {old_size} is larger than the new size {new_size}")
    if old_size == 0 or old_size == new_size:
        if len(proof):
            raise ProofError(f"a consistency proof from size {old_size} to {new_size} must be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree must be SHA-256 of the empty string")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    path = _require_proof(proof, len(_consistency_ranges(old_size, new_size)), "the consistency proof")

    if old_size & (old_size - 1) == 0:  # A power of two: the old root is itself a node of the new tree.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof has more hashes than the tree has levels")
        if fn & 1 or fn == sn:
            first = node_hash(element, first)
            second = node_hash(element, second)
            while fn and not fn & 1:  # Skip the levels where this node has no right sibling.
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short to reach the new root")
    if first != old_root:
        raise ProofError(f"the consistency proof does not lead to the old root of size {old_size}")
    if second != new_root:
        raise ProofError(f"the consistency proof does not lead to the new root of size {new_size}")


# --------------------------------------------------------------------------------------------------
# Signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint)
# --------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode_strict(text: str) -> bytes | None:
    """Decode canonical, padded standard base64 (RFC 4648 section 4); None if it is anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw if _b64(raw) == text else None


def _is_key_name(name: object) -> bool:
    """A signed-note key name: non-empty, with no Unicode space, no ``+`` and no control character."""
    return (
        isinstance(name, str)
        and bool(name)
        and "+" not in name
        and not any(character.isspace() or character < " " for character in name)
        and _is_utf8(name)
    )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def ed25519_key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """Signed-note key ID: ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(key_name.encode("utf-8") + b"\n" + _ED25519_SIGNATURE_TYPE + raw).digest()[:4]


def sign_note(text: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``text`` as a signed note with one Ed25519 signature line.

    ``text`` must be non-empty, end with a newline and contain no control character other than
    newline. The result is the text, a blank line and ``— <key name> <base64(key ID || signature)>``.
    """
    if not isinstance(text, str) or not text.endswith("\n") or not _is_utf8(text):
        raise ValueError("a note text is a non-empty string that ends with a newline")
    if _CONTROL_CHARACTERS.search(text):
        raise ValueError("a note text may not contain control characters other than newline")
    if not _is_key_name(key_name):
        raise ValueError(f"invalid key name {key_name!r}: it must be non-empty, without spaces or '+'")
    signature = private_key.sign(text.encode("utf-8"))
    key_id = ed25519_key_id(key_name, private_key.public_key())
    return f"{text}\n{_NOTE_SIGNATURE_PREFIX}{key_name} {_b64(key_id + signature)}\n"


def open_note(note_text: str, key_name: str, public_key: Ed25519PublicKey) -> str:
    """Verify a signed note and return its text (which ends with a newline).

    The note is parsed strictly: valid UTF-8 without control characters other than newline, text and
    signature lines separated by the last blank line, every signature line well formed. Signatures
    from other keys (a different name or key ID) are ignored, as the spec requires. At least one
    signature must come from ``key_name`` with ``public_key``, and every such signature must verify.
    Raises :class:`NoteError` otherwise.
    """
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("signed notes are verified with an Ed25519 public key")
    if not _is_key_name(key_name):
        raise ValueError(f"invalid key name {key_name!r}: it must be non-empty, without spaces or '+'")
    if not isinstance(note_text, str):
        raise NoteError("malformed note: a note is text")
    if len(note_text) > MAX_NOTE_CHARS:
        raise NoteError(f"malformed note: longer than {MAX_NOTE_CHARS} characters")
    if not _is_utf8(note_text):
        raise NoteError("malformed note: not valid UTF-8")
    if _CONTROL_CHARACTERS.search(note_text):
        raise NoteError("malformed note: it contains control characters other than newline")
    if not note_text.endswith("\n"):
        raise NoteError("malformed note: it does not end with a newline")
    separator = note_text.rfind("\n\n")
    if separator < 0:
        raise NoteError("malformed note: no blank line separates the text from the signatures")
    text, signature_block = note_text[: separator + 1], note_text[separator + 2 :]
    if not signature_block:
        raise NoteError("malformed note: it has no signature lines")
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_NOTE_SIGNATURES} signature lines")

    expected_id = ed25519_key_id(key_name, public_key)
    signatures: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_NOTE_SIGNATURE_PREFIX):
            raise NoteError(f"malformed note: signature line {number} does not start with an em dash and a space")
        fields = line[len(_NOTE_SIGNATURE_PREFIX) :].split(" ")
        if len(fields) != 2 or not _is_key_name(fields[0]):
            raise NoteError(f"malformed note: signature line {number} is not '— <key name> <signature>'")
        blob = _b64decode_strict(fields[1])
        if blob is None or len(blob) < 5:
            raise NoteError(f"malformed note: signature line {number} does not hold base64(key ID || signature)")
        if fields[0] == key_name and blob[:4] == expected_id:
            signatures.append(blob[4:])
    if not signatures:
        raise NoteError(f"unknown key: the note has no signature from {key_name!r} (key ID {expected_id.hex()})")
    message = text.encode("utf-8")
    for signature in signatures:
        try:
            public_key.verify(signature, message)
        except InvalidSignature:
            raise NoteError(f"bad signature: a signature from {key_name!r} does not verify") from None
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A log checkpoint (c2sp.org/tlog-checkpoint): origin, tree size and root hash.

    Extension lines are not supported: a checkpoint is exactly three lines.
    """

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        """Refuse values that have no checkpoint text."""
        if (
            not isinstance(self.origin, str)
            or not self.origin
            or _CONTROL_CHARACTERS.search(self.origin)
            or "\n" in self.origin
            or not _is_utf8(self.origin)
        ):
            raise ValueError("a checkpoint origin is a non-empty line of text without control characters")
        _check_count("size", self.size)
        if self.size > MAX_TREE_SIZE:
            raise ValueError(f"a checkpoint size is at most {MAX_TREE_SIZE}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise ValueError(f"a checkpoint root is a {HASH_SIZE}-byte hash")

    def body(self) -> bytes:
        """The note text: ``origin``, ``size`` and ``base64(root)``, each followed by a newline."""
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n".encode()


def sign_checkpoint(cp: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint as a signed note with one Ed25519 signature from ``key_name``."""
    return sign_note(cp.body().decode("utf-8"), key_name, private_key)


def open_checkpoint(
    note_text: str, key_name: str, public_key: Ed25519PublicKey, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint (see :func:`open_note`) and parse its body strictly.

    The body must be exactly ``origin``, a tree size in decimal without leading zeros, and a standard
    base64 root of 32 bytes, each on its own line. If ``origin`` is given, the checkpoint's origin
    must equal it. Raises :class:`NoteError` otherwise.
    """
    text = open_note(note_text, key_name, public_key)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("malformed checkpoint: it needs origin, size and root lines")
    if len(lines) > 3:
        raise NoteError("malformed checkpoint: extension lines are not supported")
    found_origin, size_text, root_text = lines
    if not found_origin:
        raise NoteError("malformed checkpoint: the origin line is empty")
    if not _CANONICAL_DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise NoteError(f"malformed checkpoint: size {size_text!r} is not a decimal without leading zeros")
    root = _b64decode_strict(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise NoteError(f"malformed checkpoint: the root is not the base64 of a {HASH_SIZE}-byte hash")
    if origin is not None and found_origin != origin:
        raise NoteError(f"wrong origin: the checkpoint is for {found_origin!r}, not {origin!r}")
    return Checkpoint(found_origin, int(size_text), root)


# --------------------------------------------------------------------------------------------------
# DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1)
# --------------------------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``DSSEv1 <len(type)> <type> <len(payload)> <payload>``.

    Lengths are in bytes (the type is UTF-8 encoded), written in ASCII decimal.
    """
    encoded_type = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


def dsse_sign(payload_type: str, payload: bytes, sign: Callable[[bytes], bytes], keyid: str) -> dict[str, Any]:
    """A DSSE envelope with one signature: ``sign`` is applied to :func:`pae` of the payload."""
    signature = sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": _b64(payload),
        "signatures": [{"keyid": keyid, "sig": _b64(signature)}],
    }


def _b64decode_dsse(text: object) -> bytes | None:
    """Decode DSSE base64, which may be standard or URL-safe, padded or not; None if malformed."""
    if not isinstance(text, str):
        return None
    standard = text.replace("-", "+").replace("_", "/")
    core = standard.rstrip("=")
    padding = len(standard) - len(core)
    if padding > 2 or (padding and len(standard) % 4):
        return None
    try:
        raw = base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
    except ValueError:
        return None
    return raw if _b64(raw).rstrip("=") == core else None


def _dsse_verifier(public_key: object) -> Callable[[bytes, bytes], bool]:
    """A ``verify(signature, message) -> bool`` for an Ed25519 or ECDSA P-256 key."""
    if isinstance(public_key, Ed25519PublicKey):
        ed_key = public_key

        def verify_ed25519(signature: bytes, message: bytes) -> bool:
            try:
                ed_key.verify(signature, message)
            except InvalidSignature:
                return False
            return True

        return verify_ed25519
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise EnvelopeError(f"ECDSA keys must be on P-256 (secp256r1), not {public_key.curve.name}")
        ec_key = public_key

        def verify_ecdsa(signature: bytes, message: bytes) -> bool:
            try:
                ec_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            except (InvalidSignature, ValueError):
                return False
            return True

        return verify_ecdsa
    raise EnvelopeError(f"unsupported public key type {type(public_key).__name__}: use Ed25519 or ECDSA on P-256")


def dsse_verify(
    envelope: Mapping[str, Any],
    public_key: Ed25519PublicKey | ec.EllipticCurvePublicKey,
    expected_payload_type: str,
) -> bytes:
    """Verify a DSSE envelope with ``public_key`` and return its payload bytes.

    The payload type must equal ``expected_payload_type``, and at least one signature must verify
    over :func:`pae` of the payload: Ed25519, or ECDSA P-256 with SHA-256 and a DER signature.
    ``keyid`` fields are unauthenticated hints and are ignored. Raises :class:`EnvelopeError`.
    """
    verify = _dsse_verifier(public_key)
    if not isinstance(envelope, Mapping):
        raise EnvelopeError("a DSSE envelope is a JSON object")
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise EnvelopeError("the envelope has no payloadType string")
    if payload_type != expected_payload_type:
        raise EnvelopeError(f"payload type {payload_type!r} is not the expected {expected_payload_type!r}")
    payload = _b64decode_dsse(envelope.get("payload"))
    if payload is None:
        raise EnvelopeError("the envelope payload is not base64")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise EnvelopeError("the envelope has no signatures")
    if len(signatures) > MAX_DSSE_SIGNATURES:
        raise EnvelopeError(f"the envelope has more than {MAX_DSSE_SIGNATURES} signatures")
    decoded: list[bytes] = []
    for position, entry in enumerate(signatures):
        signature = _b64decode_dsse(entry.get("sig")) if isinstance(entry, Mapping) else None
        if signature is None:
            raise EnvelopeError(f"signature {position} of the envelope has no base64 'sig'")
        decoded.append(signature)
    message = pae(payload_type, payload)
    if any(verify(signature, message) for signature in decoded):
        return payload
    raise EnvelopeError("no signature of the envelope verifies with the given key")

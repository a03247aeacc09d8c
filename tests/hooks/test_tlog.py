"""Tests of hooks.tlog: Merkle tree math, signed-note checkpoints and DSSE envelopes.

Proof construction and verification are checked three ways: against published vectors, against a
naive implementation written straight from the recursive definitions of RFC 6962 / RFC 9162, and
with hypothesis over random tree sizes, including every kind of malformed proof.
"""

import ast
import base64
import hashlib
from collections.abc import Callable, Sequence

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from hooks import tlog
from hooks.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    CompactRange,
    EnvelopeError,
    NoteError,
    PerfectSubtree,
    ProofError,
    consistency_proof,
    dsse_sign,
    dsse_verify,
    ed25519_key_id,
    inclusion_proof,
    leaf_hash,
    needed_subtrees_for_append,
    needed_subtrees_for_consistency,
    needed_subtrees_for_inclusion,
    needed_subtrees_for_root,
    node_hash,
    open_checkpoint,
    open_note,
    pae,
    perfect_subtrees_to_store,
    prefix_roots,
    root_from_leaves,
    root_from_subtrees,
    sign_checkpoint,
    sign_note,
    verify_consistency,
    verify_inclusion,
)

# No example database: the tests must not write into the working tree.
PROPERTY = settings(database=None, deadline=None, max_examples=200)


# --------------------------------------------------------------------------------------------------
# Naive reference implementation, straight from the recursive definitions of RFC 6962 section 2.1
# (MTH, PATH, PROOF/SUBPROOF), working on lists of leaf hashes.
# --------------------------------------------------------------------------------------------------


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: Sequence[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = split(n)
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = split(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], complete), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]); empty for m == 0, which the RFC leaves undefined."""
    return ref_subproof(m, leaves, True) if m else []


def path_sides(m: int, n: int) -> tuple[str, ...]:
    """On which side ("L"/"R") each inclusion proof node lies; None-free shape of PATH(m, D[n]).

    Two (index, size) pairs with the same shape make the verifier compute the same function of the
    leaf and the proof, so a proof for one is, without knowing preimages, a proof for the other.
    """
    if n == 1:
        return ()
    k = split(n)
    if m < k:
        return (*path_sides(m, k), "R")
    return (*path_sides(m - k, n - k), "L")


def consistency_shape(m: int, n: int) -> tuple[str, ...]:
    """Shape of PROOF(m, D[n]): where the walk starts ("old root" or "first") and each node's side."""

    def sub(m: int, n: int, complete: bool) -> tuple[str, ...]:
        if m == n:
            return () if complete else ("first",)
        k = split(n)
        if m <= k:
            return (*sub(m, k, complete), "R")
        return (*sub(m - k, n - k, False), "L")

    shape = sub(m, n, True)
    return shape if shape[:1] == ("first",) else ("old root", *shape)


LEAVES = [leaf_hash(b"entry %d" % i) for i in range(300)]
STORE: dict[tuple[int, int], bytes] = {}
for _index, _leaf in enumerate(LEAVES):
    for _node in perfect_subtrees_to_store(_index, _leaf, STORE):
        STORE[(_node.level, _node.index)] = _node.hash


def flip(data: bytes, byte: int = 0, bit: int = 3) -> bytes:
    changed = bytearray(data)
    changed[byte] ^= 1 << bit
    return bytes(changed)


def rejects(check: Callable[[], None]) -> bool:
    try:
        check()
    except ProofError:
        return True
    return False


# --------------------------------------------------------------------------------------------------
# Hashes
# --------------------------------------------------------------------------------------------------


def test_golden_hashes() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaves([]) == EMPTY_ROOT
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    # From transparency-dev/merkle rfc6962/rfc6962_test.go (Apache-2.0).
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) != node_hash(b, a)
    assert root_from_leaves([a]) == a
    assert root_from_leaves([a, b]) == node_hash(a, b)


# Test vectors from the RFC 6962 reference test data as carried by transparency-dev/merkle
# (proof/verify_test.go and testonly; originally certificate-transparency's merkle_tree_test.cc),
# Copyright Google LLC, Apache License 2.0.
VECTOR_ENTRIES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
VECTOR_LEAVES = [leaf_hash(entry) for entry in VECTOR_ENTRIES]
VECTOR_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
# (0-based leaf index, tree size, proof). The Go source numbers leaves from 1.
VECTOR_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def vector_store() -> dict[tuple[int, int], bytes]:
    compact = CompactRange()
    return {(node.level, node.index): node.hash for leaf in VECTOR_LEAVES for node in compact.append(leaf)}


@pytest.mark.parametrize("size", range(1, 9))
def test_vector_roots(size: int) -> None:
    expected = VECTOR_ROOTS[size - 1]
    assert root_from_leaves(VECTOR_LEAVES[:size]) == expected
    assert ref_mth(VECTOR_LEAVES[:size]) == expected
    assert root_from_subtrees(size, vector_store()) == expected


@pytest.mark.parametrize(("index", "size", "proof_hex"), VECTOR_INCLUSION)
def test_vector_inclusion(index: int, size: int, proof_hex: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in proof_hex]
    assert inclusion_proof(index, size, vector_store()) == proof
    verify_inclusion(VECTOR_LEAVES[index], index, size, proof, VECTOR_ROOTS[size - 1])
    with pytest.raises(ProofError):
        verify_inclusion(VECTOR_LEAVES[index], index, size, proof, VECTOR_ROOTS[size - 2 if size > 1 else 1])


@pytest.mark.parametrize(("old", "new", "proof_hex"), VECTOR_CONSISTENCY)
def test_vector_consistency(old: int, new: int, proof_hex: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in proof_hex]
    old_root, new_root = VECTOR_ROOTS[old - 1], VECTOR_ROOTS[new - 1]
    assert consistency_proof(old, new, vector_store()) == proof
    verify_consistency(old, new, old_root, new_root, proof)
    if old != new:
        # The probes of transparency-dev's corruptConsistencyProof that apply here.
        probes = [
            (old - 1, new, old_root, new_root, proof),
            (old + 1, new, old_root, new_root, proof),
            (old ^ 2, new, old_root, new_root, proof),
            (old, new * 2, old_root, new_root, proof),
            (old, new // 2, old_root, new_root, proof),
            (old, new, new_root, old_root, proof),
            (old, new, old_root, new_root, []),
            (old, new, old_root, new_root, [*proof, old_root]),
            (old, new, old_root, new_root, [proof[0], *proof]),
        ]
        for probe in probes:
            with pytest.raises(ProofError):
                verify_consistency(*probe)


# --------------------------------------------------------------------------------------------------
# Storage of perfect subtrees, roots
# --------------------------------------------------------------------------------------------------


def test_store_holds_every_perfect_subtree_and_nothing_else() -> None:
    expected = {
        (level, index): ref_mth(LEAVES[index << level : (index + 1) << level])
        for level in range(9)
        for index in range(len(LEAVES) >> level)
    }
    assert expected == STORE


def test_perfect_subtrees_to_store_names_the_completed_levels() -> None:
    assert needed_subtrees_for_append(0) == []
    assert needed_subtrees_for_append(6) == []
    assert needed_subtrees_for_append(7) == [(0, 6), (1, 2), (2, 0)]
    assert needed_subtrees_for_append(11) == [(0, 10), (1, 4)]
    stored = perfect_subtrees_to_store(7, LEAVES[7], STORE)
    assert [(node.level, node.index) for node in stored] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert stored[-1] == PerfectSubtree(3, 0, ref_mth(LEAVES[:8]))
    only_needed = {key: STORE[key] for key in needed_subtrees_for_append(7)}
    assert perfect_subtrees_to_store(7, LEAVES[7], only_needed) == stored


def test_compact_range_matches_reference_and_store() -> None:
    compact = CompactRange()
    assert compact.root() == EMPTY_ROOT
    for index, leaf in enumerate(LEAVES):
        assert compact.append(leaf) == perfect_subtrees_to_store(index, leaf, STORE)
        size = index + 1
        assert compact.size == size
        expected = ref_mth(LEAVES[:size])
        assert compact.root() == expected
        assert root_from_leaves(LEAVES[:size]) == expected
        assert root_from_subtrees(size, STORE) == expected
        assert len(needed_subtrees_for_root(size)) == bin(size).count("1")
    resumed = CompactRange.from_subtrees(137, STORE)
    resumed.extend(LEAVES[137:])
    assert resumed.size == len(LEAVES)
    assert resumed.root() == compact.root()
    with pytest.raises(ValueError):
        resumed.extend([LEAVES[0], b"short"])
    assert resumed.size == len(LEAVES) + 1
    assert resumed.root() == root_from_leaves([*LEAVES, LEAVES[0]])


def test_root_from_leaves_over_a_million_leaves_matches_the_stack() -> None:
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(2**20 + 3)]
    compact = CompactRange()
    compact.extend(leaves)
    assert compact.size == len(leaves)
    assert root_from_leaves(leaves) == compact.root()


def test_prefix_roots_are_the_roots_of_every_prefix() -> None:
    sizes = range(len(LEAVES) + 1)
    assert prefix_roots(LEAVES, sizes) == {size: ref_mth(LEAVES[:size]) for size in sizes}
    assert prefix_roots(LEAVES, [37, 5, 37]) == {37: ref_mth(LEAVES[:37]), 5: ref_mth(LEAVES[:5])}
    assert prefix_roots([], [0]) == {0: EMPTY_ROOT}
    assert prefix_roots(LEAVES, []) == {}


def test_prefix_roots_refuse_a_size_beyond_the_leaves_and_a_short_leaf() -> None:
    with pytest.raises(ValueError, match=rf"^size {len(LEAVES) + 1} is outside the {len(LEAVES)} leaves$"):
        prefix_roots(LEAVES, [3, len(LEAVES) + 1])
    with pytest.raises(ValueError, match=r"^leaf hash 2 has 5 bytes, not 32$"):
        prefix_roots([LEAVES[0], LEAVES[1], b"short", LEAVES[3]], [1])


@PROPERTY
@given(st.integers(0, 2**70), st.integers(0, 2**70))
def test_any_range_splits_into_few_aligned_perfect_subtrees(start: int, length: int) -> None:
    pieces = tlog._decompose(start, start + length)
    assert len(pieces) <= 2 * max(length.bit_length(), 1)
    position = start
    for level, index in pieces:
        assert index << level == position
        position += 1 << level
    assert position == start + length


def test_bad_inputs_to_construction_are_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        root_from_leaves([b"short"])
    with pytest.raises(ValueError):
        CompactRange().append(b"short")
    with pytest.raises(ValueError, match="not below"):
        inclusion_proof(5, 5, STORE)
    with pytest.raises(ValueError, match="larger"):
        consistency_proof(6, 5, STORE)
    with pytest.raises(ValueError, match="non-negative"):
        needed_subtrees_for_inclusion(-1, 5)
    with pytest.raises(KeyError, match="level=0, index=1"):
        inclusion_proof(0, 2, {})
    with pytest.raises(ValueError, match="32-byte"):
        inclusion_proof(0, 2, lambda level, index: b"short")
    assert consistency_proof(0, 5, {}) == []
    assert consistency_proof(5, 5, {}) == []


# --------------------------------------------------------------------------------------------------
# Proofs: module versus reference, verification, malformed proofs
# --------------------------------------------------------------------------------------------------


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, 300))
    return size, draw(st.integers(0, size - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(1, 300))
    return draw(st.integers(0, new)), new


@PROPERTY
@given(size_and_index())
def test_inclusion_proofs(case: tuple[int, int]) -> None:
    size, index = case
    leaves, leaf, root = LEAVES[:size], LEAVES[index], ref_mth(LEAVES[:size])
    proof = inclusion_proof(index, size, STORE)
    assert proof == ref_path(index, leaves)
    needed = needed_subtrees_for_inclusion(index, size)
    assert inclusion_proof(index, size, {key: STORE[key] for key in needed}) == proof
    verify_inclusion(leaf, index, size, proof, root)

    def check(
        leaf: bytes = leaf, index: int = index, size: int = size, proof: list[bytes] = proof, root: bytes = root
    ) -> Callable[[], None]:
        return lambda: verify_inclusion(leaf, index, size, proof, root)

    assert rejects(check(leaf=flip(leaf)))
    assert rejects(check(root=flip(root, 31, 7)))
    assert rejects(check(root=EMPTY_ROOT))
    for position in range(len(proof)):
        for bit in (0, 7):
            broken = list(proof)
            broken[position] = flip(proof[position], position % 32, bit)
            assert rejects(check(proof=broken))
    if proof:
        assert rejects(check(proof=proof[:-1]))
        assert rejects(check(proof=proof[1:]))
        assert rejects(check(proof=[proof[0], root, *proof[1:]]))
    assert rejects(check(proof=[*proof, root]))
    assert rejects(check(proof=[*proof, b""]))
    assert rejects(check(proof=[root, *proof]))
    # Any other leaf of the same tree takes a different path, so a wrong index is always refused.
    for wrong in {index - 1, index + 1, index ^ 2, size, -1} - {index}:
        assert rejects(check(index=wrong))
    # A wrong size is refused unless it gives the path exactly the same shape: then the verifier
    # computes the same function of leaf and proof, so no verifier could tell the difference.
    for wrong in {size - 1, size + 1, size * 2, size // 2, size ^ 2, 0} - {size}:
        indistinguishable = index < wrong and path_sides(index, wrong) == path_sides(index, size)
        assert rejects(check(size=wrong)) is not indistinguishable


@PROPERTY
@given(old_and_new())
def test_consistency_proofs(case: tuple[int, int]) -> None:
    old, new = case
    old_root, new_root = ref_mth(LEAVES[:old]), ref_mth(LEAVES[:new])
    proof = consistency_proof(old, new, STORE)
    assert proof == ref_proof(old, LEAVES[:new])
    needed = needed_subtrees_for_consistency(old, new)
    assert consistency_proof(old, new, {key: STORE[key] for key in needed}) == proof
    verify_consistency(old, new, old_root, new_root, proof)

    def check(
        old: int = old,
        new: int = new,
        old_root: bytes = old_root,
        new_root: bytes = new_root,
        proof: list[bytes] = proof,
    ) -> Callable[[], None]:
        return lambda: verify_consistency(old, new, old_root, new_root, proof)

    assert rejects(check(old_root=flip(old_root)))
    assert rejects(check(proof=[*proof, new_root]))
    assert rejects(check(proof=[*proof, b""]))
    assert rejects(check(proof=[new_root, *proof]))
    assert rejects(check(old=new + 1))
    if old != new:
        assert rejects(check(old=new, new=old))
    if old == 0:
        assert not proof
        if new:  # Every tree extends the empty tree: the new root is not constrained.
            verify_consistency(0, new, EMPTY_ROOT, flip(new_root, 31, 0), [])
        return
    assert rejects(check(new_root=flip(new_root, 31, 0)))
    if old == new:
        assert not proof
        return
    assert rejects(check(old_root=new_root, new_root=old_root))
    assert rejects(check(proof=[]))
    assert rejects(check(proof=proof[:-1]))
    assert rejects(check(proof=proof[1:]))
    for position in range(len(proof)):
        for bit in (0, 4):
            broken = list(proof)
            broken[position] = flip(proof[position], 31 - position % 32, bit)
            assert rejects(check(proof=broken))
    # Wrong sizes are refused unless the proof has exactly the same shape for them (see above).
    candidates = {(old - 1, new), (old + 1, new), (old ^ 2, new), (old, new * 2), (old, new // 2), (old, new + 1)}
    for wrong_old, wrong_new in candidates - {(old, new)}:
        if 0 < wrong_old < wrong_new:
            indistinguishable = consistency_shape(wrong_old, wrong_new) == consistency_shape(old, new)
        else:
            indistinguishable = False
        assert rejects(check(old=wrong_old, new=wrong_new)) is not indistinguishable


def test_wrong_size_can_be_indistinguishable() -> None:
    # The reason for the shape guards above: the proof from 2 to 4 leaves, [MTH(2..4)], also proves
    # that the size-2 tree is a prefix of a size-3 tree whose third leaf hash is MTH(2..4).
    proof = consistency_proof(2, 4, STORE)
    verify_consistency(2, 3, ref_mth(LEAVES[:2]), ref_mth(LEAVES[:4]), proof)
    assert consistency_shape(2, 3) == consistency_shape(2, 4)


def test_trivial_consistency_cases() -> None:
    root = ref_mth(LEAVES[:5])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, root, [])
    verify_consistency(5, 5, root, root, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 5, root, root, [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 5, EMPTY_ROOT, root, [EMPTY_ROOT])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(5, 5, root, root, [EMPTY_ROOT])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(5, 5, root, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="larger"):
        verify_consistency(6, 5, root, root, [])
    with pytest.raises(ProofError, match="exactly 2"):
        verify_consistency(2, 5, ref_mth(LEAVES[:2]), root, [])
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(5, 5, root[:31], root[:31], [])


def test_trivial_inclusion_cases() -> None:
    leaf = LEAVES[0]
    verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(ProofError, match="does not lead"):
        verify_inclusion(leaf, 0, 1, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="not below"):
        verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="not below"):
        verify_inclusion(leaf, 1, 1, [], leaf)
    with pytest.raises(ProofError, match="non-negative"):
        verify_inclusion(leaf, -1, 1, [], leaf)
    with pytest.raises(ProofError, match="exactly 0"):
        verify_inclusion(leaf, 0, 1, [leaf], leaf)
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(leaf[:31], 0, 1, [], leaf[:31])
    proof = inclusion_proof(3, 7, STORE)
    with pytest.raises(ProofError, match="proof element 1"):
        verify_inclusion(LEAVES[3], 3, 7, [proof[0], proof[1][:31], proof[2]], ref_mth(LEAVES[:7]))


@pytest.mark.parametrize("size", [10**6, 2**20, 2**20 + 3, 2**40 + 12345])
def test_proofs_of_a_large_tree_read_few_subtrees(size: int) -> None:
    def fake(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, "asked for a subtree beyond the tree"
        return hashlib.sha256(b"%d %d" % (level, index)).digest()

    bound = 2 * size.bit_length()
    for index in sorted({0, 1, size // 3, size // 2, size - 2, size - 1}):
        needed = needed_subtrees_for_inclusion(index, size)
        assert len(needed) <= bound
        assert len(inclusion_proof(index, size, {key: fake(*key) for key in needed})) <= size.bit_length()
        assert len(needed_subtrees_for_append(index)) <= size.bit_length()
    for old in sorted({1, 2, 3, size // 3, size // 2, size - 1, size}):
        needed = needed_subtrees_for_consistency(old, size)
        assert len(needed) <= bound
        assert len(consistency_proof(old, size, {key: fake(*key) for key in needed})) <= bound
    assert len(needed_subtrees_for_root(size)) <= size.bit_length()
    root_from_subtrees(size, fake)


# --------------------------------------------------------------------------------------------------
# Signed notes and checkpoints
# --------------------------------------------------------------------------------------------------

# Known-answer test of golang.org/x/mod/sumdb/note (note_test.go and package documentation,
# BSD-3-Clause): the signed-note format with an Ed25519 key. The key strings hold the signature
# type byte 0x01 followed by the 32-byte private seed or public key.
GO_PRIVATE = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_PUBLIC = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT + "\n\N{EM DASH} PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

LOG_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"modelgov test log key").digest())
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"modelgov other key").digest())
LOG_NAME = "modelgov.example/log"
ORIGIN = "modelgov.example/log"
CHECKPOINT = Checkpoint(ORIGIN, 300, ref_mth(LEAVES))


def signed(body: str, key: Ed25519PrivateKey = LOG_KEY, name: str = LOG_NAME) -> str:
    return sign_note(body, name, key)


def open_ok(note: str, origin: str | None = ORIGIN) -> Checkpoint:
    return open_checkpoint(note, LOG_NAME, LOG_KEY.public_key(), origin)


def test_go_sumdb_note_known_answer() -> None:
    seed, public = base64.b64decode(GO_PRIVATE), base64.b64decode(GO_PUBLIC)
    assert seed[0] == public[0] == 1
    private_key = Ed25519PrivateKey.from_private_bytes(seed[1:])
    public_key = Ed25519PublicKey.from_public_bytes(public[1:])
    assert private_key.public_key() == public_key
    assert ed25519_key_id("PeterNeumann", public_key).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, "PeterNeumann", private_key) == GO_NOTE
    assert open_note(GO_NOTE, "PeterNeumann", public_key) == GO_TEXT
    with pytest.raises(NoteError, match="bad signature"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), "PeterNeumann", public_key)


def test_checkpoint_body_and_note_format() -> None:
    body = f"{ORIGIN}\n300\n{base64.b64encode(CHECKPOINT.root).decode()}\n"
    assert CHECKPOINT.body() == body.encode()
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    prefix = f"{body}\n\N{EM DASH} {LOG_NAME} "
    assert note.startswith(prefix)
    assert note.endswith("=\n")
    blob = base64.b64decode(note[len(prefix) : -1], validate=True)
    assert len(blob) == 4 + 64
    raw_public = LOG_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert blob[:4] == hashlib.sha256(LOG_NAME.encode() + b"\n\x01" + raw_public).digest()[:4]
    assert blob[:4] == ed25519_key_id(LOG_NAME, LOG_KEY.public_key())
    LOG_KEY.public_key().verify(blob[4:], body.encode())


def test_checkpoint_round_trip() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    assert open_ok(note) == CHECKPOINT
    assert open_ok(note, origin=None) == CHECKPOINT
    empty = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert open_ok(sign_checkpoint(empty, LOG_NAME, LOG_KEY)) == empty


def test_unknown_signatures_are_ignored_but_a_bad_known_one_is_not() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    witness_line = sign_checkpoint(CHECKPOINT, "witness.example", OTHER_KEY).rsplit("\n", 2)[1]
    assert open_ok(note + witness_line + "\n") == CHECKPOINT
    body, own_line = note[:-1].rsplit("\n", 1)
    assert open_ok(f"{body}\n{witness_line}\n{own_line}\n") == CHECKPOINT
    # Same name, different key: a different key ID, so an unknown key, and ignored.
    impostor = sign_checkpoint(CHECKPOINT, LOG_NAME, OTHER_KEY).rsplit("\n", 2)[1]
    assert open_ok(note + impostor + "\n") == CHECKPOINT
    # A second signature from the expected key that fails to verify rejects the whole note.
    prefix, blob = own_line.rsplit(" ", 1)
    bad_line = f"{prefix} {base64.b64encode(flip(base64.b64decode(blob), 10)).decode()}"
    with pytest.raises(NoteError, match="bad signature"):
        open_ok(note + bad_line + "\n")


def test_tampered_checkpoints_are_refused() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    with pytest.raises(NoteError, match="bad signature"):
        open_ok(note.replace("\n300\n", "\n301\n"))
    body, line = note[:-1].rsplit("\n", 1)
    prefix, blob = line.rsplit(" ", 1)
    tampered = base64.b64encode(flip(base64.b64decode(blob), 40)).decode()
    with pytest.raises(NoteError, match="bad signature"):
        open_ok(f"{body}\n{prefix} {tampered}\n")
    with pytest.raises(NoteError, match="unknown key"):
        open_checkpoint(note, LOG_NAME, OTHER_KEY.public_key(), ORIGIN)
    with pytest.raises(NoteError, match="unknown key"):
        open_checkpoint(note, "modelgov.example/other", LOG_KEY.public_key(), ORIGIN)
    with pytest.raises(NoteError, match="unknown key"):
        open_ok(sign_checkpoint(CHECKPOINT, LOG_NAME, OTHER_KEY))
    with pytest.raises(NoteError, match="wrong origin"):
        open_ok(note, origin="modelgov.example/another-log")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda note: note.split("\n\n")[0] + "\n",  # no signature lines and no blank line
        lambda note: note.split("\n\N{EM DASH}")[0] + "\n",  # blank line, but no signature line
        lambda note: note[:-1],  # no final newline
        lambda note: note.replace("\n", "\r\n"),  # control characters
        lambda note: note.replace("\N{EM DASH} ", "- "),  # not an em dash
        lambda note: note.replace("\N{EM DASH} ", "\N{EM DASH}  "),  # two spaces
        lambda note: note.replace(LOG_NAME + " ", LOG_NAME + " x "),  # three fields
        lambda note: note[:-2] + "!\n",  # signature not base64
        lambda note: note[:-2] + "\n",  # signature base64 not canonical
        lambda note: note + "\N{EM DASH} k AAAA\n",  # a signature shorter than a key ID
    ],
)
def test_malformed_notes_are_refused(mangle: Callable[[str], str]) -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    with pytest.raises(NoteError, match="malformed"):
        open_ok(mangle(note))


ROOT_B64 = base64.b64encode(ref_mth(LEAVES)).decode()
URLSAFE_ROOT_B64 = base64.urlsafe_b64encode(b"\xff" * 32).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n010\n{ROOT_B64}\n",  # non-canonical size
        f"{ORIGIN}\n00\n{ROOT_B64}\n",
        f"{ORIGIN}\n+10\n{ROOT_B64}\n",
        f"{ORIGIN}\n-1\n{ROOT_B64}\n",
        f"{ORIGIN}\n 10\n{ROOT_B64}\n",
        f"{ORIGIN}\n1_000\n{ROOT_B64}\n",
        f"{ORIGIN}\n\N{ARABIC-INDIC DIGIT ONE}\n{ROOT_B64}\n",  # a Unicode digit
        f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n",  # beyond 64 bits
        f"{ORIGIN}\n10\n{base64.b64encode(bytes(31)).decode()}\n",  # root too short
        f"{ORIGIN}\n10\n{ROOT_B64.rstrip('=')}\n",  # root without padding
        f"{ORIGIN}\n10\n{URLSAFE_ROOT_B64}\n",  # URL-safe alphabet
        f"{ORIGIN}\n10\n",  # no root line
        f"{ORIGIN}\n10\n{ROOT_B64}\nextension\n",  # extension lines
        f"\n10\n{ROOT_B64}\n",  # empty origin
    ],
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(NoteError, match="malformed checkpoint"):
        open_checkpoint(signed(body), LOG_NAME, LOG_KEY.public_key())


def test_checkpoint_sizes_are_plain_decimals() -> None:
    for size in (0, 7, 10, 2**64 - 1):
        note = signed(f"{ORIGIN}\n{size}\n{ROOT_B64}\n")
        assert open_ok(note).size == size


def test_invalid_checkpoint_values_and_key_names() -> None:
    root = ref_mth(LEAVES)
    for origin, size, digest in [("", 1, root), ("a\nb", 1, root), (ORIGIN, -1, root), (ORIGIN, 1, root[:31])]:
        with pytest.raises(ValueError):
            Checkpoint(origin, size, digest)
    for name in ("", "with space", "with+plus", "tab\tname", "nbsp\N{NO-BREAK SPACE}name"):
        with pytest.raises(ValueError, match="key name"):
            sign_checkpoint(CHECKPOINT, name, LOG_KEY)
    with pytest.raises(ValueError, match="newline"):
        sign_note("no final newline", LOG_NAME, LOG_KEY)


# --------------------------------------------------------------------------------------------------
# DSSE
# --------------------------------------------------------------------------------------------------

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PAYLOAD = b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}'


def test_pae() -> None:
    # The example of the DSSE protocol specification.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("\N{CJK UNIFIED IDEOGRAPH-7C7B}", b"") == b"DSSEv1 3 \xe7\xb1\xbb 0 "


def ecdsa_sign(key: ec.EllipticCurvePrivateKey) -> Callable[[bytes], bytes]:
    return lambda data: key.sign(data, ec.ECDSA(hashes.SHA256()))


def test_dsse_ed25519_round_trip() -> None:
    envelope = dsse_sign(PAYLOAD_TYPE, PAYLOAD, LOG_KEY.sign, "log-key")
    assert set(envelope) == {"payloadType", "payload", "signatures"}
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert base64.b64decode(envelope["payload"]) == PAYLOAD
    assert [set(entry) for entry in envelope["signatures"]] == [{"keyid", "sig"}]
    assert envelope["signatures"][0]["keyid"] == "log-key"
    LOG_KEY.public_key().verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae(PAYLOAD_TYPE, PAYLOAD))
    assert dsse_verify(envelope, LOG_KEY.public_key(), PAYLOAD_TYPE) == PAYLOAD
    with pytest.raises(EnvelopeError, match="no signature"):
        dsse_verify(envelope, OTHER_KEY.public_key(), PAYLOAD_TYPE)


def test_dsse_ecdsa_p256_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    envelope = dsse_sign(PAYLOAD_TYPE, PAYLOAD, ecdsa_sign(key), "")
    assert dsse_verify(envelope, key.public_key(), PAYLOAD_TYPE) == PAYLOAD
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(EnvelopeError, match="no signature"):
        dsse_verify(envelope, other.public_key(), PAYLOAD_TYPE)


def test_dsse_refuses_tampering_and_wrong_types() -> None:
    envelope = dsse_sign(PAYLOAD_TYPE, PAYLOAD, LOG_KEY.sign, "log-key")
    public_key = LOG_KEY.public_key()
    for position in range(len(PAYLOAD)):
        tampered = {**envelope, "payload": base64.b64encode(flip(PAYLOAD, position, 0)).decode()}
        with pytest.raises(EnvelopeError, match="no signature"):
            dsse_verify(tampered, public_key, PAYLOAD_TYPE)
    with pytest.raises(EnvelopeError, match="not the expected"):
        dsse_verify(envelope, public_key, "application/json")
    relabelled = {**envelope, "payloadType": "application/json"}
    with pytest.raises(EnvelopeError, match="no signature"):
        dsse_verify(relabelled, public_key, "application/json")


def test_dsse_refuses_other_key_types() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    envelope = dsse_sign(PAYLOAD_TYPE, PAYLOAD, lambda data: key.sign(data, ec.ECDSA(hashes.SHA384())), "k")
    with pytest.raises(EnvelopeError, match="P-256"):
        dsse_verify(envelope, key.public_key(), PAYLOAD_TYPE)
    with pytest.raises(EnvelopeError, match="unsupported public key type"):
        dsse_verify(envelope, object(), PAYLOAD_TYPE)  # type: ignore[arg-type]


def test_dsse_envelope_shapes() -> None:
    public_key = LOG_KEY.public_key()
    good = dsse_sign(PAYLOAD_TYPE, PAYLOAD, LOG_KEY.sign, "log-key")
    good_signature = good["signatures"][0]
    # Several signatures: one that verifies is enough; key IDs are only hints.
    several = {**good, "signatures": [{"keyid": "x", "sig": base64.b64encode(bytes(64)).decode()}, good_signature]}
    assert dsse_verify(several, public_key, PAYLOAD_TYPE) == PAYLOAD
    # The DSSE specification allows URL-safe base64, with or without padding.
    urlsafe = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.urlsafe_b64encode(PAYLOAD).decode().rstrip("="),
        "signatures": [{"sig": base64.urlsafe_b64encode(base64.b64decode(good_signature["sig"])).decode()}],
    }
    assert dsse_verify(urlsafe, public_key, PAYLOAD_TYPE) == PAYLOAD
    broken: list[object] = [
        [],
        {**good, "payloadType": 1},
        {**good, "payload": "not base64!"},
        {**good, "payload": good["payload"] + "==="},
        {**good, "signatures": []},
        {**good, "signatures": "abc"},
        {**good, "signatures": [{"keyid": "log-key"}]},
        {**good, "signatures": ["abc"]},
        {**good, "signatures": [good_signature] * 17},
        {key: value for key, value in good.items() if key != "payload"},
    ]
    for envelope in broken:
        with pytest.raises(EnvelopeError):
            dsse_verify(envelope, public_key, PAYLOAD_TYPE)  # type: ignore[arg-type]


def test_module_imports_only_the_standard_library_and_cryptography() -> None:
    assert tlog.__file__ is not None
    with open(tlog.__file__, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    allowed = {"base64", "hashlib", "re", "collections", "dataclasses", "typing", "cryptography"}
    assert {name.split(".")[0] for name in imported} <= allowed

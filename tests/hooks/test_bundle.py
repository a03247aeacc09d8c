"""Tests of hooks.bundle: range proofs and the offline verification of export bundles.

Django-free on purpose (the verifier is what regulators run): nothing here imports Django, so the
module also runs with ``-p no:django --noconftest``. Bundles are built by hand from a log kept in
memory and checkpoints signed with a fresh Ed25519 key; range proofs are built independently of
hooks.bundle, from the perfect subtrees of the full leaf list, as the server stores them.
"""

import base64
import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from hooks import tlog
from hooks.bundle import (
    BUNDLE_FORMAT,
    BundleError,
    BundleReport,
    _leaves_at_once,
    _leaves_one_by_one,
    range_hash,
    range_proof_plan,
    root_with_range_proof,
    verify_bundle,
)

ORIGIN = "test.example/audit-log"
KEY_NAME = "test.example/audit-log"
PROPERTY = hypothesis_settings(database=None, deadline=None, max_examples=150)


# --------------------------------------------------------------------------------------------------
# A log in memory, and bundles of it
# --------------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def exported(seq: int, data: bytes, leaf: bytes) -> dict[str, Any]:
    """A bundle entry as docs/audit-log.md defines it: the text if the bytes are UTF-8, else base64."""
    try:
        return {"seq": seq, "entry": data.decode("utf-8"), "leaf_hash": b64(leaf)}
    except UnicodeDecodeError:
        return {"seq": seq, "entry_b64": b64(data), "leaf_hash": b64(leaf)}


def entry_bytes(seq: int) -> bytes:
    return json.dumps({"event": "TEST_EVENT", "n": seq, "v": 1}, sort_keys=True, separators=(",", ":")).encode()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash, straight from the recursive definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def perfect_subtrees(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete aligned perfect subtree of the leaf list, (level, index) -> hash."""
    table: dict[tuple[int, int], bytes] = {}
    level = 0
    while 1 << level <= len(leaves):
        width = 1 << level
        for index in range(len(leaves) // width):
            table[(level, index)] = mth(leaves[index * width : (index + 1) * width])
        level += 1
    return table


def node_from_subtrees(lo: int, hi: int, table: dict[tuple[int, int], bytes]) -> bytes:
    """The hash of the tree node over [lo, hi) from the aligned perfect subtrees that tile it."""
    pieces: list[bytes] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        while lo % (1 << level):
            level -= 1
        pieces.append(table[(level, lo >> level)])
        lo += 1 << level
    digest = pieces[-1]
    for left in reversed(pieces[:-1]):
        digest = hashlib.sha256(b"\x01" + left + digest).digest()
    return digest


def naive_range_proof(start: int, end: int, size: int, table: dict[tuple[int, int], bytes]) -> list[bytes]:
    """The maximal nodes outside [start, end), left to right (docs/audit-log.md, "Range proof")."""
    proof: list[bytes] = []

    def walk(lo: int, hi: int) -> None:
        if hi <= start or lo >= end:
            proof.append(node_from_subtrees(lo, hi, table))
        elif not (start <= lo and hi <= end):
            middle = lo + (1 << ((hi - lo - 1).bit_length() - 1))
            walk(lo, middle)
            walk(middle, hi)

    if size:
        walk(0, size)
    return proof


@dataclass
class Log:
    entries: list[bytes]
    leaves: list[bytes]
    subtrees: dict[tuple[int, int], bytes]
    key: Ed25519PrivateKey

    def root(self, size: int) -> bytes:
        return mth(self.leaves[:size])

    def note(self, size: int, *, key: Ed25519PrivateKey | None = None, origin: str = ORIGIN, root: bytes | None = None):
        checkpoint = tlog.Checkpoint(origin, size, self.root(size) if root is None else root)
        return tlog.sign_checkpoint(checkpoint, KEY_NAME, key or self.key)


def make_log(size: int, *, replace: dict[int, bytes] | None = None) -> Log:
    """A log of ``size`` JSON entries, signed with a fresh key; ``replace`` puts other bytes at some seqs."""
    entries = [entry_bytes(seq) for seq in range(size)]
    for seq, data in (replace or {}).items():
        entries[seq] = data
    leaves = [hashlib.sha256(b"\x00" + data).digest() for data in entries]
    return Log(entries, leaves, perfect_subtrees(leaves), Ed25519PrivateKey.generate())


def make_bundle(
    log: Log, sizes: list[int], *, start: int = 0, end: int | None = None, notes: list[str] | None = None
) -> dict[str, Any]:
    """A bundle of entries [start, end) with checkpoints at ``sizes`` (in that order)."""
    final = sizes[-1]
    end = final if end is None else end
    distinct = sorted({size for size in sizes if size > 0})
    return {
        "format": BUNDLE_FORMAT,
        "origin": ORIGIN,
        "key_name": KEY_NAME,
        "public_key_pem": "not used by the verifier",
        "from": start,
        "to": end,
        "checkpoints": notes if notes is not None else [log.note(size) for size in sizes],
        "consistency_proofs": [
            {"from": old, "to": new, "proof": [b64(node) for node in tlog.consistency_proof(old, new, log.subtrees)]}
            for old, new in itertools.pairwise(distinct)
        ],
        "entries": [exported(seq, log.entries[seq], log.leaves[seq]) for seq in range(start, end)],
        "range_proof": [b64(node) for node in naive_range_proof(start, end, final, log.subtrees)],
    }


def rejection(bundle: dict[str, Any], log: Log, **kwargs: Any) -> BundleError:
    with pytest.raises(BundleError) as caught:
        verify_bundle(bundle, log.key.public_key(), **kwargs)
    return caught.value


# --------------------------------------------------------------------------------------------------
# root_with_range_proof
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 41))
def test_range_proof_gives_the_root_for_every_range(size):
    log = make_log(size)
    root = tlog.root_from_leaves(log.leaves)
    assert root == mth(log.leaves)
    for start in range(size + 1):
        for end in range(start, size + 1):
            proof = naive_range_proof(start, end, size, log.subtrees)
            assert root_with_range_proof(start, end, size, log.leaves[start:end], proof) == root, (start, end)


@pytest.mark.parametrize("size", range(1, 41))
def test_server_side_range_proof_builder_agrees_with_the_reference(size):
    """range_proof_plan + range_hash (what the server exports) give the same hashes as the reference."""
    log = make_log(size)

    def get(level: int, index: int) -> bytes:
        return log.subtrees[(level, index)]

    for start in range(size + 1):
        for end in range(start, size + 1):
            built = [range_hash(lo, hi, get) for kind, lo, hi in range_proof_plan(start, end, size) if kind == "proof"]
            assert built == naive_range_proof(start, end, size, log.subtrees), (start, end)


def test_empty_tree_has_the_empty_root_and_no_proof():
    assert root_with_range_proof(0, 0, 0, [], []) == hashlib.sha256(b"").digest()
    with pytest.raises(tlog.ProofError, match=r"^an empty tree has no range proof$"):
        root_with_range_proof(0, 0, 0, [], [b"\x00" * 32])


@pytest.mark.parametrize("size", range(1, 41))
def test_too_short_or_extra_range_proof_is_refused(size):
    log = make_log(size)
    for start in range(size + 1):
        for end in range(start, size + 1):
            proof = naive_range_proof(start, end, size, log.subtrees)
            leaves = log.leaves[start:end]
            with pytest.raises(tlog.ProofError, match=r"^the range proof has extra hashes$"):
                root_with_range_proof(start, end, size, leaves, [*proof, log.leaves[0]])
            if proof:
                with pytest.raises(tlog.ProofError, match=r"^the range proof is too short$"):
                    root_with_range_proof(start, end, size, leaves, proof[:-1])


@pytest.mark.parametrize(
    ("start", "end", "size", "count"),
    [(3, 2, 5, 0), (0, 6, 5, 6), (-1, 2, 5, 3), (1, 3, 5, 3), (1, 3, 5, 1)],
)
def test_range_that_does_not_fit_is_refused(start, end, size, count):
    log = make_log(6)
    with pytest.raises(tlog.ProofError, match=r"^the range does not fit the tree size$"):
        root_with_range_proof(start, end, size, log.leaves[:count], [])


@PROPERTY
@given(data=st.data())
def test_altered_range_proof_never_gives_the_root(data):
    size = data.draw(st.integers(1, 40), label="size")
    start = data.draw(st.integers(0, size), label="start")
    end = data.draw(st.integers(start, size), label="end")
    log = make_log(size)
    proof = naive_range_proof(start, end, size, log.subtrees)
    if not proof:
        return
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    bit = data.draw(st.integers(0, 255), label="bit")
    altered = list(proof)
    flipped = bytearray(altered[position])
    flipped[bit // 8] ^= 1 << (bit % 8)
    altered[position] = bytes(flipped)
    assert root_with_range_proof(start, end, size, log.leaves[start:end], altered) != log.root(size)


# --------------------------------------------------------------------------------------------------
# verify_bundle: the good bundles
# --------------------------------------------------------------------------------------------------

SIZES = [5, 12, 20]


def test_whole_bundle_verifies():
    log = make_log(20)
    report = verify_bundle(make_bundle(log, SIZES), log.key.public_key())
    assert report == BundleReport(ORIGIN, 0, 20, 3, 20, log.root(20))


@pytest.mark.parametrize(("start", "end"), [(3, 9), (0, 7), (12, 20), (19, 20), (7, 7), (0, 20)])
def test_partial_bundle_verifies_with_its_range_proof(start, end):
    log = make_log(20)
    bundle = make_bundle(log, SIZES, start=start, end=end)
    assert len(bundle["entries"]) == end - start
    report = verify_bundle(bundle, log.key.public_key())
    assert report == BundleReport(ORIGIN, start, end, 3, 20, log.root(20))


def test_bundle_with_repeated_checkpoint_verifies():
    log = make_log(20)
    report = verify_bundle(make_bundle(log, [5, 12, 12, 20]), log.key.public_key())
    assert report == BundleReport(ORIGIN, 0, 20, 4, 20, log.root(20))


@pytest.mark.parametrize("known_size", [5, 12, 20])
def test_known_checkpoint_among_the_bundles_checkpoints_verifies(known_size):
    log = make_log(20)
    report = verify_bundle(make_bundle(log, SIZES), log.key.public_key(), known_checkpoint=log.note(known_size))
    assert report.tree_size == 20


def test_known_checkpoint_between_checkpoints_verifies_with_its_consistency_proof():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    bundle["known_consistency_proof"] = [b64(node) for node in tlog.consistency_proof(9, 20, log.subtrees)]
    report = verify_bundle(bundle, log.key.public_key(), known_checkpoint=log.note(9))
    assert report.tree_size == 20


# --------------------------------------------------------------------------------------------------
# verify_bundle: what it must reject
# --------------------------------------------------------------------------------------------------


def test_missing_entry_is_named():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    del bundle["entries"][7]
    error = rejection(bundle, log)
    assert (error.code, error.seq) == ("missing_entry", 7)


def test_entry_replaced_by_another_seq_is_named():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    bundle["entries"][7] = dict(bundle["entries"][8])
    error = rejection(bundle, log)
    assert (error.code, error.seq, str(error)) == ("missing_entry", 7, "entry seq 7 is missing (found 8)")


def test_one_character_changed_in_an_entry_is_named():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    text = bundle["entries"][9]["entry"]
    assert text == '{"event":"TEST_EVENT","n":9,"v":1}'
    bundle["entries"][9]["entry"] = text.replace('"n":9', '"n":8')
    error = rejection(bundle, log)
    assert (error.code, error.seq, str(error)) == ("bad_entry", 9, "entry seq 9: its bytes do not hash to its leaf")


def test_flipped_entry_byte_without_leaf_hashes_is_bounded_by_the_checkpoints():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    for item in bundle["entries"]:
        del item["leaf_hash"]
    bundle["entries"][9]["entry"] = bundle["entries"][9]["entry"].replace('"n":9', '"n":8')
    error = rejection(bundle, log)
    assert (error.code, error.seq) == ("root_mismatch", 5)


def test_flipped_entry_byte_in_a_partial_bundle_fails_the_range_proof():
    log = make_log(20)
    bundle = make_bundle(log, SIZES, start=3, end=9)
    bundle["entries"][1] = {"seq": 4, "entry": log.entries[4].decode().replace('"n":4', '"n":5')}
    error = rejection(bundle, log)
    assert (error.code, error.seq) == ("root_mismatch", None)


@pytest.mark.parametrize("item", [{"entry_b64": b64(b"\xff not json")}, {"entry": "{not json"}], ids=["bytes", "text"])
def test_entry_that_is_not_json_is_refused(item):
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    bundle["entries"][3] = {"seq": 3, **item}
    error = rejection(bundle, log)
    assert (error.code, error.seq, str(error)) == ("bad_entry", 3, "entry seq 3 is not JSON")


def test_signed_entry_that_is_not_json_is_refused_unless_the_json_check_is_off():
    """The JSON check is separate from integrity: a log whose service signed non-JSON bytes fails it,
    and verifies without it, since every hash and signature holds. Bytes that are not UTF-8 travel as
    ``entry_b64``, and only them."""
    log = make_log(20, replace={3: b"\xff not json"})
    bundle = make_bundle(log, SIZES)
    assert bundle["entries"][3] == {"seq": 3, "entry_b64": "/yBub3QganNvbg==", "leaf_hash": b64(log.leaves[3])}
    assert [seq for seq, item in enumerate(bundle["entries"]) if "entry" not in item] == [3]
    error = rejection(bundle, log)
    assert (error.code, error.seq, str(error)) == ("bad_entry", 3, "entry seq 3 is not JSON")
    report = verify_bundle(bundle, log.key.public_key(), check_json=False)
    assert report == BundleReport(ORIGIN, 0, 20, 3, 20, log.root(20))


def test_flipped_entry_byte_is_named_without_the_json_check():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    bundle["entries"][9]["entry"] = log.entries[9].decode().replace('"n":9', '"n":8')
    with pytest.raises(BundleError) as caught:
        verify_bundle(bundle, log.key.public_key(), check_json=False)
    assert (caught.value.code, caught.value.seq) == ("bad_entry", 9)


def test_entry_bytes_that_are_not_utf8_are_named_by_their_leaf():
    """A changed entry whose bytes are no longer UTF-8 is exported as ``entry_b64`` and caught by its
    hash, with or without the JSON check."""
    data = bytearray(entry_bytes(9))
    data[5] = 0xFF
    changed = make_log(20, replace={9: bytes(data)})
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    bundle["entries"][9] = exported(9, changed.entries[9], log.leaves[9])
    assert set(bundle["entries"][9]) == {"seq", "entry_b64", "leaf_hash"}
    for check_json in (True, False):
        error = rejection(bundle, log, check_json=check_json)
        assert (error.code, error.seq, str(error)) == ("bad_entry", 9, "entry seq 9: its bytes do not hash to its leaf")


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_entry_text_beyond_ascii_keeps_its_bytes_through_the_bundle_json(ensure_ascii):
    """Whether the bundle's JSON escapes non-ASCII characters or not, the string read back encodes to
    the signed bytes: a two-byte, a three-byte (U+2028, which JSON text may hold raw) and a four-byte
    character, a quote, a backslash and a control character."""
    text = '{"note":"caf\u00e9 \u2028 \U0001f600 \\"\\\\ \\u0001","v":1}'
    log = make_log(20, replace={4: text.encode("utf-8")})
    assert len(log.entries[4]) == len(text) + 1 + 2 + 3  # é, U+2028, the emoji in UTF-8
    bundle = json.loads(json.dumps(make_bundle(log, SIZES), ensure_ascii=ensure_ascii))
    assert bundle["entries"][4]["entry"] == text
    assert verify_bundle(bundle, log.key.public_key()) == BundleReport(ORIGIN, 0, 20, 3, 20, log.root(20))


def test_entry_nested_too_deeply_to_parse_is_refused_by_the_json_check():
    """Python's parser gives up on deep nesting: the verifier says so instead of failing with a
    traceback, and the log still verifies without the JSON check."""
    deep = b"[" * 100_000 + b"]" * 100_000
    log = make_log(20, replace={4: deep})
    bundle = make_bundle(log, SIZES)
    error = rejection(bundle, log)
    assert (error.code, error.seq, str(error)) == ("bad_entry", 4, "entry seq 4 is nested too deeply to check as JSON")
    assert verify_bundle(bundle, log.key.public_key(), check_json=False).tree_size == 20


@pytest.mark.parametrize("seq", [0, 11, 19])
def test_entry_without_its_leaf_hash_verifies(seq):
    """An entry may omit ``leaf_hash`` (the verifier computes it anyway)."""
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    del bundle["entries"][seq]["leaf_hash"]
    assert verify_bundle(bundle, log.key.public_key()) == BundleReport(ORIGIN, 0, 20, 3, 20, log.root(20))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"entry": None, "entry_b64": "eyJ2IjoxfQ"}, "entry 6 is not valid base64"),  # no padding
        ({"entry": None, "entry_b64": 7}, "entry 6 is not a base64 string"),
        ({"entry": 7}, "entry 6 is not a string"),
        ({"entry": b"{}"}, "entry 6 is not a string"),
        # JSON can escape a lone surrogate; UTF-8 cannot encode it, so the string stands for no bytes.
        ({"entry": json.loads('"{\\ud800}"')}, "entry 6 is not Unicode text (it holds a lone surrogate)"),
        ({"entry_b64": b64(entry_bytes(6))}, "entry 6 must have exactly one of entry and entry_b64"),
        ({"entry": None}, "entry 6 must have exactly one of entry and entry_b64"),
        ({"leaf_hash": "not base64!"}, "leaf hash 6 is not valid base64"),
        ({"seq": "6"}, "entry seq 6 is missing (found '6')"),
    ],
)
def test_malformed_entry_is_named(change, message):
    """(A None in ``change`` removes the field.)"""
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    merged = {**bundle["entries"][6], **change}
    bundle["entries"][6] = {key: value for key, value in merged.items() if value is not None}
    error = rejection(bundle, log)
    assert (error.code, error.seq, str(error)) == (
        "missing_entry" if "seq" in change else "bundle_invalid",
        6 if "seq" in change else None,
        message,
    )


MUTATIONS = {
    "drop seq": lambda item: {key: value for key, value in item.items() if key != "seq"},
    "drop leaf_hash": lambda item: {key: value for key, value in item.items() if key != "leaf_hash"},
    "seq as float": lambda item: {**item, "seq": float(item["seq"])},
    "seq plus one": lambda item: {**item, "seq": item["seq"] + 1},
    "entry as entry_b64": lambda item: {
        "seq": item["seq"],
        "entry_b64": b64(item["entry"].encode()),
        "leaf_hash": item["leaf_hash"],
    },
    "entry_b64 unpadded": lambda item: {
        "seq": item["seq"],
        "entry_b64": b64(item["entry"].encode()).rstrip("="),
        "leaf_hash": item["leaf_hash"],
    },
    "entry and entry_b64": lambda item: {**item, "entry_b64": b64(item["entry"].encode())},
    "entry with a newline": lambda item: {**item, "entry": item["entry"][:4] + "\n" + item["entry"][4:]},
    # Whitespace around a JSON value: json.loads allows it; the hash matches the new text.
    "entry in whitespace, leaf rehashed": lambda item: {
        **item,
        "entry": f" {item['entry']}\n",
        "leaf_hash": b64(tlog.leaf_hash(f" {item['entry']}\n".encode())),
    },
    "entry with a lone surrogate": lambda item: {**item, "entry": item["entry"] + "\ud800"},
    "entry of another seq": lambda item: {**item, "entry": entry_bytes(item["seq"] + 1).decode()},
    "entry not JSON, leaf rehashed": lambda item: {
        **item,
        "entry": "{not json",
        "leaf_hash": b64(tlog.leaf_hash(b"{not json")),
    },
    "entry as bytes": lambda item: {**item, "entry": item["entry"].encode()},
    "leaf_hash of zeros": lambda item: {**item, "leaf_hash": b64(bytes(32))},
    "not a dict": lambda item: [item],
}


@PROPERTY
@given(
    check_json=st.booleans(),
    mutated=st.dictionaries(st.integers(0, 19), st.sampled_from(sorted(MUTATIONS)), max_size=3),
)
def test_entries_checked_at_once_are_accepted_one_by_one_with_the_same_leaves(check_json, mutated):
    """The whole-list checks are a shortcut: whatever they accept, the entry-by-entry walk accepts too,
    with the same leaves, so errors are always named by the walk."""
    log = make_log(20)
    entries = make_bundle(log, SIZES)["entries"]
    for seq, name in mutated.items():
        entries[seq] = MUTATIONS[name](entries[seq])
    leaves = _leaves_at_once(entries, 0, 20, check_json=check_json)
    if leaves is not None:
        assert _leaves_one_by_one(entries, 0, 20, check_json=check_json) == leaves
    if not mutated:
        assert leaves == log.leaves


def test_wrong_key_is_refused():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    with pytest.raises(BundleError) as caught:
        verify_bundle(bundle, Ed25519PrivateKey.generate().public_key())
    assert caught.value.code == "bad_checkpoint"
    assert str(caught.value).startswith("checkpoint 0: unknown key: the note has no signature from")


def test_checkpoint_signed_by_another_key_under_our_key_id_is_refused():
    log = make_log(20)
    forged = log.note(20, key=Ed25519PrivateKey.generate())
    text, signature_line = forged.rsplit("\n\n", 1)
    name, blob = signature_line.removeprefix("\N{EM DASH} ").rstrip("\n").split(" ")
    real_id = tlog.ed25519_key_id(KEY_NAME, log.key.public_key())
    spliced = f"{text}\n\n\N{EM DASH} {name} {b64(real_id + base64.b64decode(blob)[4:])}\n"
    error = rejection(make_bundle(log, SIZES, notes=[log.note(5), log.note(12), spliced]), log)
    assert (error.code, str(error)) == (
        "bad_checkpoint",
        f"checkpoint 2: bad signature: a signature from {KEY_NAME!r} does not verify",
    )


def test_wrong_origin_is_refused():
    log = make_log(20)
    notes = [log.note(5), log.note(12, origin="other.example/log"), log.note(20)]
    error = rejection(make_bundle(log, SIZES, notes=notes), log)
    assert (error.code, str(error)) == (
        "bad_checkpoint",
        f"checkpoint 1: wrong origin: the checkpoint is for 'other.example/log', not {ORIGIN!r}",
    )


def test_a_whole_bundle_of_another_log_is_refused_against_the_pinned_origin():
    """The same key signing two logs: a bundle of the other one verifies under the origin it names
    itself, so the verifier pins the origin it knows."""
    log = make_log(20)
    other = "other.example/log"
    bundle = make_bundle(log, SIZES, notes=[log.note(size, origin=other) for size in SIZES])
    bundle["origin"] = other
    assert verify_bundle(bundle, log.key.public_key()).origin == other

    error = rejection(bundle, log, origin=ORIGIN)

    assert (error.code, str(error)) == ("wrong_origin", f"the bundle is of the log {other!r}, not of {ORIGIN!r}")
    assert verify_bundle(make_bundle(log, SIZES), log.key.public_key(), origin=ORIGIN).tree_size == 20


def test_shrinking_checkpoints_are_refused():
    log = make_log(20)
    bundle = make_bundle(log, SIZES, notes=[log.note(5), log.note(20), log.note(12)])
    proof = [b64(node) for node in tlog.consistency_proof(5, 20, log.subtrees)]
    bundle["consistency_proofs"].append({"from": 5, "to": 20, "proof": proof})
    error = rejection(bundle, log)
    assert (error.code, str(error)) == (
        "inconsistent_checkpoints",
        "checkpoint of size 12 follows one of size 20: the log shrank",
    )


def test_equal_size_checkpoints_with_different_roots_are_refused():
    log = make_log(20)
    forked = log.note(12, root=hashlib.sha256(b"another history").digest())
    bundle = make_bundle(log, SIZES, notes=[log.note(5), log.note(12), forked, log.note(20)])
    error = rejection(bundle, log)
    assert (error.code, str(error)) == (
        "inconsistent_checkpoints",
        "two checkpoints of size 12 have different roots: the log forked",
    )


def test_tampered_consistency_proof_is_refused():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    bundle["consistency_proofs"][1]["proof"][0] = b64(b"\x07" * 32)
    error = rejection(bundle, log)
    assert error.code == "inconsistent_checkpoints"
    assert str(error).startswith("checkpoint 20 is not consistent with checkpoint 12: ")


def test_missing_consistency_proof_is_refused():
    log = make_log(20)
    bundle = make_bundle(log, SIZES)
    bundle["consistency_proofs"] = bundle["consistency_proofs"][:1]
    error = rejection(bundle, log)
    assert error.code == "inconsistent_checkpoints"
    assert str(error).startswith("checkpoint 20 is not consistent with checkpoint 12: ")


def test_log_rolled_back_behind_a_known_checkpoint_is_refused():
    log = make_log(20)
    bundle = make_bundle(log, [5, 12])
    error = rejection(bundle, log, known_checkpoint=log.note(20))
    assert (error.code, str(error)) == (
        "rolled_back",
        "the log was rolled back: a checkpoint of size 20 was issued, the bundle ends at 12",
    )


def test_known_checkpoint_with_another_root_is_refused():
    log = make_log(20)
    known = log.note(12, root=hashlib.sha256(b"another history").digest())
    error = rejection(make_bundle(log, SIZES), log, known_checkpoint=known)
    assert (error.code, str(error)) == ("forked", "the known checkpoint of size 12 has another root: the log forked")


def test_known_checkpoint_without_consistency_proof_is_refused():
    log = make_log(20)
    error = rejection(make_bundle(log, SIZES), log, known_checkpoint=log.note(9))
    assert error.code == "forked"
    assert str(error).startswith("the log does not extend the known checkpoint: ")


def test_known_checkpoint_signed_by_another_key_is_refused():
    log = make_log(20)
    error = rejection(make_bundle(log, SIZES), log, known_checkpoint=log.note(12, key=Ed25519PrivateKey.generate()))
    assert error.code == "bad_checkpoint"
    assert str(error).startswith("the known checkpoint: unknown key: ")


def test_tampered_range_proof_is_refused():
    log = make_log(20)
    bundle = make_bundle(log, SIZES, start=3, end=9)
    bundle["range_proof"][0] = b64(b"\x07" * 32)
    error = rejection(bundle, log)
    assert (error.code, str(error)) == (
        "root_mismatch",
        "the entries 3..9 do not hash to the root of the checkpoint of size 20",
    )


def test_short_range_proof_is_refused():
    log = make_log(20)
    bundle = make_bundle(log, SIZES, start=3, end=9)
    bundle["range_proof"].pop()
    error = rejection(bundle, log)
    assert (error.code, str(error)) == ("bad_proof", "range proof: the range proof is too short")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"format": "something-else/v1"}, "bad_format"),
        ({"origin": None}, "bad_format"),
        ({"key_name": 7}, "bad_format"),
        ({"checkpoints": []}, "bad_checkpoint"),
        ({"entries": None}, "bad_format"),
        ({"from": "0"}, "bad_format"),
        ({"to": 21}, "bundle_invalid"),
    ],
)
def test_malformed_bundle_is_refused(change, code):
    log = make_log(20)
    bundle = {**make_bundle(log, SIZES), **change}
    assert rejection(bundle, log).code == code


def test_bundle_with_an_invalid_key_name_is_refused_as_a_bundle_error():
    """A key name with a space cannot name a signed-note key: that is a bad bundle, not a crash."""
    log = make_log(20)
    bundle = {**make_bundle(log, SIZES), "key_name": "not a key name"}
    assert rejection(bundle, log).code == "bad_format"

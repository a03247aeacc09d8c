"""Audit-log export bundles and their offline verification, without Django or a server.

A bundle holds a contiguous range of log entries (their exact bytes), every signed checkpoint the
log has issued, consistency proofs between consecutive checkpoints, and a *range proof*: the hashes
of the subtrees outside the exported range, so that the root of the last checkpoint can be
recomputed from the exported entries alone. docs/audit-log.md describes the format so that anyone
can write their own verifier; this module is ours, and depends only on hashlib and cryptography.
"""

import binascii
import hashlib
import itertools
import json
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hooks import tlog

BUNDLE_FORMAT = "modelgov-audit-bundle/v2"
"""v2 carries each entry as its text (v1: base64 of its bytes, which cost twice the hashing to decode)."""

Range = tuple[int, int]


def split(size: int) -> int:
    """RFC 6962: the largest power of two smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def range_proof_plan(start: int, end: int, size: int) -> Iterator[tuple[str, int, int]]:
    """Walk the RFC 6962 tree of ``size`` leaves, left to right, yielding the maximal nodes that lie
    wholly outside [start, end) as ("proof", lo, hi) and wholly inside as ("leaves", lo, hi)."""

    def walk(lo: int, hi: int) -> Iterator[tuple[str, int, int]]:
        if hi <= start or lo >= end:
            yield ("proof", lo, hi)
        elif start <= lo and hi <= end:
            yield ("leaves", lo, hi)
        else:
            middle = lo + split(hi - lo)
            yield from walk(lo, middle)
            yield from walk(middle, hi)

    if size == 0:
        return
    yield from walk(0, size)


def perfect_pieces(lo: int, hi: int) -> list[tlog.SubtreeId]:
    """The aligned perfect subtrees that tile [lo, hi), left to right."""
    pieces: list[tlog.SubtreeId] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        pieces.append((level, lo >> level))
        lo += 1 << level
    return pieces


def range_hash(lo: int, hi: int, get: Callable[[int, int], bytes]) -> bytes:
    """The hash of the tree node over [lo, hi) from its perfect pieces (right to left)."""
    hashes = [get(level, index) for level, index in perfect_pieces(lo, hi)]
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = tlog.node_hash(left, root)
    return root


def root_with_range_proof(start: int, end: int, size: int, leaves: Sequence[bytes], proof: Sequence[bytes]) -> bytes:
    """Recompute the root of the tree of ``size`` leaves from the leaves of [start, end) and the
    range proof. Raises tlog.ProofError if the proof has too few or too many hashes."""
    if not 0 <= start <= end <= size or len(leaves) != end - start:
        raise tlog.ProofError("the range does not fit the tree size")
    if size == 0:
        if proof:
            raise tlog.ProofError("an empty tree has no range proof")
        return tlog.EMPTY_ROOT
    remaining = list(proof)

    def compute(lo: int, hi: int) -> bytes:
        if hi <= start or lo >= end:
            if not remaining:
                raise tlog.ProofError("the range proof is too short")
            return remaining.pop(0)
        if start <= lo and hi <= end:
            return tlog.root_from_leaves(leaves[lo - start : hi - start])
        middle = lo + split(hi - lo)
        left = compute(lo, middle)
        return tlog.node_hash(left, compute(middle, hi))

    root = compute(0, size)
    if remaining:
        raise tlog.ProofError("the range proof has extra hashes")
    return root


class BundleError(ValueError):
    """The bundle does not verify. ``seq`` names the first bad entry when one can be named."""

    def __init__(self, message: str, *, seq: int | None = None, code: str = "bundle_invalid") -> None:
        super().__init__(message)
        self.seq = seq
        self.code = code


@dataclass
class BundleReport:
    """What a successful verification established."""

    origin: str
    first_seq: int
    end_seq: int
    checkpoints: int
    tree_size: int
    root: bytes
    notes: list[str] = field(default_factory=list)


_JSON = json.JSONDecoder()
# What json.loads runs once the whitespace is skipped: (value, end) of the value at an index.
_SCAN: Callable[[str, int], tuple[Any, int]] = _JSON.scan_once  # type: ignore[attr-defined]  # not in typeshed


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"{what} is not a base64 string")
    try:
        # strict: only the base64 alphabet and correct padding (what b64decode(validate=True) checks,
        # and stricter about padding), without its per-call overhead: a bundle holds a million of these.
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what} is not valid base64") from None


def bundle_entry(seq: int, entry_bytes: bytes, leaf_hash: bytes) -> dict[str, Any]:
    """An entry of the bundle: ``entry`` is the text whose UTF-8 encoding is exactly the stored bytes.
    Bytes that are not UTF-8 (never written by the service: a changed row) are exported all the same,
    as ``entry_b64``, so that the verifier names them rather than the exporter hiding them."""
    item: dict[str, Any] = {"seq": seq}
    try:
        item["entry"] = entry_bytes.decode("utf-8")
    except UnicodeDecodeError:
        item["entry_b64"] = binascii.b2a_base64(entry_bytes, newline=False).decode("ascii")
    item["leaf_hash"] = binascii.b2a_base64(leaf_hash, newline=False).decode("ascii")
    return item


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:  # not PEM, or a key type OpenSSL does not know
        raise BundleError(f"the log key is not a usable public key: {exc}", code="bad_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError("the log key must be an Ed25519 public key", code="bad_key")
    return key


def verify_bundle(
    bundle: dict[str, Any],
    public_key: Ed25519PublicKey,
    *,
    known_checkpoint: str | None = None,
    check_json: bool = True,
    origin: str | None = None,
) -> BundleReport:
    """Verify an export bundle against the pinned log key. ``known_checkpoint`` is a checkpoint
    note the verifier obtained earlier (from a witness, a previous export, a model card): the
    bundle's log must extend it, which catches a log rolled back to an older state. ``origin``: the
    log's name as the verifier knows it (pinned with the key): a bundle of another log signed with
    the same key is refused, instead of verified under the origin it names itself.

    ``check_json=False`` skips parsing every entry as JSON, which costs more than everything else
    together. The integrity of the log does not rest on it: each leaf hash commits to the entry's
    exact bytes and the signed roots commit to the leaves, so a changed, missing, reordered or added
    entry is caught either way. Whether the signed bytes are well-formed JSON is a property of what
    the service wrote, checked separately (docs/audit-log.md, section 6)."""
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"not a {BUNDLE_FORMAT} bundle", code="bad_format")
    named, key_name = bundle.get("origin"), bundle.get("key_name")
    if not isinstance(named, str) or not isinstance(key_name, str):
        raise BundleError("the bundle names no origin or key name", code="bad_format")
    if origin is not None and named != origin:
        raise BundleError(f"the bundle is of the log {named!r}, not of {origin!r}", code="wrong_origin")
    origin = named
    if not key_name or any(char.isspace() or char == "+" for char in key_name):
        raise BundleError(f"the key name {key_name!r} is not a signed-note key name", code="bad_format")

    checkpoints: list[tlog.Checkpoint] = []
    for position, note in enumerate(bundle.get("checkpoints") or []):
        try:
            checkpoints.append(tlog.open_checkpoint(note, key_name, public_key, origin=origin))
        except tlog.NoteError as exc:
            raise BundleError(f"checkpoint {position}: {exc}", code="bad_checkpoint") from None
    if not checkpoints:
        raise BundleError("the bundle has no checkpoint", code="bad_checkpoint")
    _verify_checkpoint_chain(checkpoints, bundle.get("consistency_proofs") or [])
    final = checkpoints[-1]

    if known_checkpoint is not None:
        _verify_known_checkpoint(known_checkpoint, key_name, public_key, origin, checkpoints, bundle)

    start, end = bundle.get("from"), bundle.get("to")
    entries = bundle.get("entries")
    if not isinstance(start, int) or not isinstance(end, int) or not isinstance(entries, list):
        raise BundleError("the bundle has no entry range", code="bad_format")
    if not 0 <= start <= end <= final.size:
        raise BundleError(f"the range {start}..{end} is not inside the checkpoint of size {final.size}")
    leaves = _verify_entries(entries, start, end, check_json=check_json)
    if start == 0:
        _verify_prefix_roots(leaves, [cp for cp in checkpoints if cp.size <= end])
    proof = [_b64(node, "a range-proof hash") for node in bundle.get("range_proof") or []]
    if start == 0 and end == final.size and not proof:
        # The whole log: _verify_prefix_roots has just recomputed the root at every checkpoint,
        # the final one included; hashing the million leaves into a tree again proves nothing more.
        return BundleReport(origin, start, end, len(checkpoints), final.size, final.root)
    try:
        root = root_with_range_proof(start, end, final.size, leaves, proof)
    except tlog.ProofError as exc:
        raise BundleError(f"range proof: {exc}", code="bad_proof") from None
    if root != final.root:
        raise BundleError(
            f"the entries {start}..{end} do not hash to the root of the checkpoint of size {final.size}",
            code="root_mismatch",
        )
    return BundleReport(origin, start, end, len(checkpoints), final.size, final.root)


def _verify_checkpoint_chain(checkpoints: list[tlog.Checkpoint], proofs: list[Any]) -> None:
    by_pair = {}
    for item in proofs:
        if isinstance(item, dict) and isinstance(item.get("from"), int) and isinstance(item.get("to"), int):
            by_pair[(item["from"], item["to"])] = item.get("proof") or []
    for older, newer in itertools.pairwise(checkpoints):
        if newer.size < older.size:
            raise BundleError(
                f"checkpoint of size {newer.size} follows one of size {older.size}: the log shrank",
                code="inconsistent_checkpoints",
            )
        if newer.size == older.size:
            if newer.root != older.root:
                raise BundleError(
                    f"two checkpoints of size {older.size} have different roots: the log forked",
                    code="inconsistent_checkpoints",
                )
            continue
        if older.size == 0:
            continue
        proof = [_b64(node, "a consistency-proof hash") for node in by_pair.get((older.size, newer.size), [])]
        try:
            tlog.verify_consistency(older.size, newer.size, older.root, newer.root, proof)
        except tlog.ProofError as exc:
            raise BundleError(
                f"checkpoint {newer.size} is not consistent with checkpoint {older.size}: {exc}",
                code="inconsistent_checkpoints",
            ) from None


def _verify_known_checkpoint(
    note: str,
    key_name: str,
    public_key: Ed25519PublicKey,
    origin: str,
    checkpoints: list[tlog.Checkpoint],
    bundle: dict[str, Any],
) -> None:
    try:
        known = tlog.open_checkpoint(note, key_name, public_key, origin=origin)
    except tlog.NoteError as exc:
        raise BundleError(f"the known checkpoint: {exc}", code="bad_checkpoint") from None
    final = checkpoints[-1]
    if known.size > final.size:
        raise BundleError(
            f"the log was rolled back: a checkpoint of size {known.size} was issued, the bundle ends at {final.size}",
            code="rolled_back",
        )
    same = [cp for cp in checkpoints if cp.size == known.size]
    if same and same[0].root != known.root:
        raise BundleError(f"the known checkpoint of size {known.size} has another root: the log forked", code="forked")
    if not same and known.size > 0:
        proof = [_b64(node, "a consistency-proof hash") for node in bundle.get("known_consistency_proof") or []]
        try:
            tlog.verify_consistency(known.size, final.size, known.root, final.root, proof)
        except tlog.ProofError as exc:
            raise BundleError(f"the log does not extend the known checkpoint: {exc}", code="forked") from None


def _verify_prefix_roots(leaves: list[bytes], checkpoints: list[tlog.Checkpoint]) -> None:
    """With the log exported from its start, recompute the root at every checkpoint: the first
    checkpoint that does not match bounds the first bad entry to the range since the one before."""
    roots = tlog.prefix_roots(leaves, [checkpoint.size for checkpoint in checkpoints])
    good = 0
    for checkpoint in checkpoints:
        if roots[checkpoint.size] != checkpoint.root:
            raise BundleError(
                f"entries seq {good}..{checkpoint.size - 1} do not hash to the signed checkpoint of size "
                f"{checkpoint.size}: the first bad entry is at seq {good} or after",
                seq=good,
                code="root_mismatch",
            )
        good = checkpoint.size


def _verify_entries(entries: list[Any], start: int, end: int, *, check_json: bool) -> list[bytes]:
    """The leaf hashes of entries ``start..end-1``. A bundle that verifies passes the whole-list
    checks of :func:`_leaves_at_once`; any other is walked entry by entry, which names the first bad seq."""
    leaves = _leaves_at_once(entries, start, end, check_json=check_json)
    return leaves if leaves is not None else _leaves_one_by_one(entries, start, end, check_json=check_json)


def _leaves_at_once(entries: list[Any], start: int, end: int, *, check_json: bool) -> list[bytes] | None:
    """The leaf hashes if every entry is in place, is text (``entry``), and has a ``leaf_hash`` equal
    to its own; None if anything is off. Each check runs over the whole list in one comprehension or
    C-level call, instead of a Python loop body per entry: at a million entries, that loop cost more
    than the hashing. It accepts only bundles that :func:`_leaves_one_by_one` accepts, with the same
    leaves; a bundle with an ``entry_b64`` (bytes that are not UTF-8) is left to the walk."""
    if len(entries) != end - start or set(map(type, entries)) - {dict}:
        return None
    try:
        seqs = [item["seq"] for item in entries]
        texts = [item["entry"] for item in entries]
        stored = [item["leaf_hash"] for item in entries]
    except KeyError:
        return None
    if seqs != list(range(start, end)) or set(map(type, texts)) - {str} or set(map(type, stored)) - {str}:
        return None
    if any(map(operator.contains, entries, itertools.repeat("entry_b64"))):
        return None
    a2b, sha256 = binascii.a2b_base64, hashlib.sha256
    try:
        # str.encode raises UnicodeEncodeError (a ValueError) for a lone surrogate, which JSON can
        # escape but UTF-8 cannot encode: no bytes, no leaf.
        leaves = [sha256(b"\x00" + text.encode()).digest() for text in texts]
        # strict: only the base64 alphabet and correct padding, as _b64 decodes one value.
        if [a2b(text, strict_mode=True) for text in stored] != leaves:
            return None
        # The scanner json.loads calls, without its per-call wrapper that skips surrounding whitespace
        # (about a fifth of the cost): a value that does not span the whole text is left to the walk,
        # which allows the whitespace as json.loads does.
        if check_json and [_SCAN(text, 0)[1] for text in texts] != list(map(len, texts)):
            return None
    except (binascii.Error, ValueError, StopIteration, RecursionError):
        return None
    return leaves


def _entry_bytes(item: dict[str, Any], seq: int) -> bytes:
    """The stored bytes of a bundle entry: the UTF-8 of ``entry``, or the base64 ``entry_b64``."""
    if ("entry" in item) == ("entry_b64" in item):
        raise BundleError(f"entry {seq} must have exactly one of entry and entry_b64")
    if "entry_b64" in item:
        return _b64(item["entry_b64"], f"entry {seq}")
    text = item["entry"]
    if not isinstance(text, str):
        raise BundleError(f"entry {seq} is not a string")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BundleError(f"entry {seq} is not Unicode text (it holds a lone surrogate)") from None


def _leaves_one_by_one(entries: list[Any], start: int, end: int, *, check_json: bool) -> list[bytes]:
    """The leaf hashes, entry by entry in seq order; the first entry out of place, not decodable, not
    hashing to its ``leaf_hash`` or (with ``check_json``) not JSON raises BundleError."""
    leaves: list[bytes] = []
    # Entries are checked in order first, so that a missing one is named by its seq, not only counted.
    for expected_seq, item in enumerate(entries, start=start):
        if expected_seq >= end:
            break
        if not isinstance(item, dict) or item.get("seq") != expected_seq:
            found = item.get("seq") if isinstance(item, dict) else None
            raise BundleError(
                f"entry seq {expected_seq} is missing (found {found!r})", seq=expected_seq, code="missing_entry"
            )
        data = _entry_bytes(item, expected_seq)
        leaf = tlog.leaf_hash(data)
        if "leaf_hash" in item and _b64(item["leaf_hash"], f"leaf hash {expected_seq}") != leaf:
            raise BundleError(
                f"entry seq {expected_seq}: its bytes do not hash to its leaf", seq=expected_seq, code="bad_entry"
            )
        if check_json:
            try:
                _JSON.decode(data.decode("utf-8"))  # entries are canonical JSON, in UTF-8
            except (ValueError, UnicodeDecodeError):
                raise BundleError(f"entry seq {expected_seq} is not JSON", seq=expected_seq, code="bad_entry") from None
            except RecursionError:
                message = f"entry seq {expected_seq} is nested too deeply to check as JSON"
                raise BundleError(message, seq=expected_seq, code="bad_entry") from None
        leaves.append(leaf)
    if len(entries) != end - start:
        missing = start + len(entries) if len(entries) < end - start else None
        raise BundleError(
            f"the bundle should hold {end - start} entries and holds {len(entries)}", seq=missing, code="missing_entry"
        )
    return leaves

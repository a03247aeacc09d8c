"""Reads of the transparency log: entries a user may see, proofs, checkpoints and export bundles."""

import base64
import itertools
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from core.signing import KeyPurpose, public_key_pem, service_public_key
from governance.audit import tree
from governance.errors import EntryNotIntegrated, TreeSizeOutOfRange
from governance.models import AuditCheckpoint, AuditEntry, AuditLeaf
from hooks.bundle import BUNDLE_FORMAT, bundle_entry, perfect_pieces, range_hash, range_proof_plan
from registry.models import RegisteredModel


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def reads_whole_log(user: Any) -> bool:
    """Auditors and compliance officers (the ``view_auditentry`` permission) read every entry."""
    return bool(user.is_authenticated and user.has_perm("governance.view_auditentry"))


def audit_entry_list(*, user: Any) -> QuerySet[AuditEntry]:
    """Entries ``user`` may read: all of them for whole-log readers, else those about viewable models."""
    queryset = AuditEntry.objects.select_related("leaf").order_by("id")
    if reads_whole_log(user):
        return queryset
    viewable = get_objects_for_user(
        user, "registry.view_registeredmodel", klass=RegisteredModel, accept_global_perms=True
    ).values("name")
    return queryset.filter(model_name__in=viewable)


def audit_entry_after(*, event_type: str, subject: Any) -> dict[str, Any] | None:
    """The ``after`` of the first entry of ``event_type`` about ``subject`` (a model instance), or None."""
    after: dict[str, Any] | None = (
        AuditEntry.objects.filter(event_type=event_type, subject_type=subject._meta.label, subject_id=str(subject.pk))
        .order_by("id")
        .values_list("after", flat=True)
        .first()
    )
    return after


def audit_seq_of(*, entry_id: int) -> int | None:
    """The seq the integrator gave an entry, or None while it is still queued."""
    seq: int | None = AuditLeaf.objects.filter(entry_id=entry_id).values_list("seq", flat=True).first()
    return seq


def audit_leaf_get(*, seq: int, user: Any) -> AuditLeaf:
    leaf = AuditLeaf.objects.select_related("entry").filter(seq=seq).first()
    if leaf is None or not audit_entry_list(user=user).filter(pk=leaf.entry_id).exists():
        raise EntryNotIntegrated(f"No integrated entry with seq {seq}.", extra={"seq": seq})
    return leaf


def checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-id").first()


def _default_size() -> int:
    latest = checkpoint_latest()
    return latest.size if latest is not None else tree.tree_size()


def _check_size(size: int, current: int) -> None:
    if size < 0 or size > current:
        raise TreeSizeOutOfRange(
            f"Tree size {size} is outside the log (0..{current}).", extra={"tree_size": size, "current": current}
        )


def checkpoint_note_at(size: int) -> str | None:
    return AuditCheckpoint.objects.filter(size=size).order_by("-id").values_list("note", flat=True).first()


def inclusion_proof_get(*, seq: int, tree_size: int | None, user: Any) -> dict[str, Any]:
    """An RFC 9162 inclusion proof of entry ``seq`` in the tree of ``tree_size`` leaves."""
    leaf = audit_leaf_get(seq=seq, user=user)
    current = tree.tree_size()
    size = _default_size() if tree_size is None else tree_size
    _check_size(size, current)
    if seq >= size:
        raise TreeSizeOutOfRange(
            f"Entry {seq} is not in the tree of size {size}.", extra={"seq": seq, "tree_size": size}
        )
    proof, root = tree.inclusion_proof_and_root(seq, size)
    return {
        "seq": seq,
        "tree_size": size,
        "leaf_hash": b64(bytes(leaf.leaf_hash)),
        "entry": b64(bytes(leaf.entry.entry_bytes)),
        "proof": [b64(node) for node in proof],
        "root_hash": b64(root),
        "checkpoint": checkpoint_note_at(size),
    }


def consistency_proof_get(*, old_size: int, new_size: int) -> dict[str, Any]:
    current = tree.tree_size()
    _check_size(new_size, current)
    if old_size < 0 or old_size > new_size:
        raise TreeSizeOutOfRange("'from' must be between 0 and 'to'.", extra={"from": old_size, "to": new_size})
    proof, old_root, new_root = tree.consistency_proof_and_roots(old_size, new_size)
    return {
        "from": old_size,
        "to": new_size,
        "from_root": b64(old_root),
        "to_root": b64(new_root),
        "proof": [b64(node) for node in proof],
        "from_checkpoint": checkpoint_note_at(old_size),
        "to_checkpoint": checkpoint_note_at(new_size),
    }


def _range_proof(start: int, end: int, size: int) -> list[bytes]:
    outside = [(lo, hi) for kind, lo, hi in range_proof_plan(start, end, size) if kind == "proof"]
    positions = [piece for lo, hi in outside for piece in perfect_pieces(lo, hi)]
    get = tree.getter(tree.fetch_subtrees(positions))
    return [range_hash(lo, hi, get) for lo, hi in outside]


def export_range(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    """[start, end) with the defaults filled in (the whole log of ``size`` entries), or TreeSizeOutOfRange."""
    low = 0 if start is None else start
    high = size if end is None else end
    if not 0 <= low <= high <= size:
        raise TreeSizeOutOfRange(
            f"The range {low}..{high} is not inside the log of size {size}.",
            extra={"from": low, "to": high, "checkpoint_size": size},
        )
    return low, high


def audit_export_bundle(*, start: int | None, end: int | None) -> dict[str, Any]:
    """A verifiable bundle of entries [start, end) against the latest checkpoint (see hooks.bundle)."""
    latest = checkpoint_latest()
    size = latest.size if latest is not None else 0
    start, end = export_range(start, end, size)
    notes = list(AuditCheckpoint.objects.order_by("id").values_list("size", "note"))
    sizes = sorted({checkpoint_size for checkpoint_size, _ in notes if checkpoint_size > 0})
    proofs = [
        {"from": old, "to": new, "proof": [b64(node) for node in tree.consistency_proof(old, new)]}
        for old, new in itertools.pairwise(sizes)
    ]
    entries = [
        bundle_entry(seq, bytes(entry_bytes), bytes(leaf_hash))
        for seq, leaf_hash, entry_bytes in AuditLeaf.objects.filter(seq__gte=start, seq__lt=end)
        .order_by("seq")
        .values_list("seq", "leaf_hash", "entry__entry_bytes")
        .iterator(chunk_size=5000)
    ]
    return {
        "format": BUNDLE_FORMAT,
        "origin": settings.MODELGOV["LOG_ORIGIN"],
        "key_name": settings.MODELGOV["LOG_KEY_NAME"],
        "public_key_pem": public_key_pem(service_public_key(KeyPurpose.LOG_CHECKPOINT)),
        "from": start,
        "to": end,
        "checkpoints": [note for _, note in notes],
        "consistency_proofs": proofs,
        "entries": entries,
        "range_proof": [b64(node) for node in _range_proof(start, end, size)],
    }

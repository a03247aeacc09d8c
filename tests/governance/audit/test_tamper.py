"""Tampering with the stored log, as a superuser who switches the append-only triggers off, is caught
by both verifiers: ``manage.py verify_audit_log`` over the database, and ``modelgov verify-log`` over
a bundle exported from the tampered database.

The bundle is built with the selector (``audit_export_bundle``), not the export service, so that no
new checkpoint is signed over the tampered data: the checkpoints it carries are the ones signed
before the tampering.
"""

import base64
import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from core.signing import KeyPurpose, public_key_pem, service_private_key
from governance.audit.selectors import audit_export_bundle
from governance.audit.services import audit_checkpoint_create, audit_log_export, audit_record
from governance.audit.verification import _verified_at_once
from governance.choices import AuditEvent
from governance.errors import CheckpointInconsistent
from governance.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditPending, AuditTreeNode
from hooks import tlog
from hooks.bundle import BundleError, verify_bundle
from tests.factories import UserFactory, append_only_disabled, audit_entries

REPO_ROOT = Path(__file__).resolve().parents[3]
CHECKPOINT_SIZES = (8, 16, 27, 40)
AUDIT_TABLES = (
    "governance_auditentry",
    "governance_auditleaf",
    "governance_audittreenode",
    "governance_auditcheckpoint",
)


@dataclass
class Log:
    entry_ids: list[int]  # by seq
    leaves: list[bytes]  # by seq
    notes: dict[int, str]  # checkpoint size -> note


@pytest.fixture
def log(subject) -> Log:
    """40 entries with checkpoints signed at sizes 8, 16, 27 and 40."""
    done = 0
    for size in CHECKPOINT_SIZES:
        audit_entries(size - done, subject=subject)
        done = size
        assert audit_checkpoint_create().size == size
    rows = list(AuditLeaf.objects.order_by("seq").values_list("entry_id", "leaf_hash"))
    notes = dict(AuditCheckpoint.objects.values_list("size", "note"))
    return Log([entry_id for entry_id, _ in rows], [bytes(leaf) for _, leaf in rows], notes)


def sign(size: int, root: bytes, *, key: Ed25519PrivateKey | None = None, origin: str | None = None) -> str:
    checkpoint = tlog.Checkpoint(origin or settings.MODELGOV["LOG_ORIGIN"], size, root)
    return tlog.sign_checkpoint(
        checkpoint, settings.MODELGOV["LOG_KEY_NAME"], key or service_private_key(KeyPurpose.LOG_CHECKPOINT)
    )


# --------------------------------------------------------------------------------------------------
# The tampers
# --------------------------------------------------------------------------------------------------


def flip_entry_byte(log: Log) -> None:
    data = bytearray(AuditEntry.objects.get(pk=log.entry_ids[21]).entry_bytes)
    data[30] ^= 0x01
    with append_only_disabled("governance_auditentry") as cursor:
        cursor.execute(
            "UPDATE governance_auditentry SET entry_bytes = %s WHERE id = %s", [bytes(data), log.entry_ids[21]]
        )
        assert cursor.rowcount == 1


def put_bytes_that_are_not_utf8(log: Log) -> bytes:
    """Entry 21's bytes with one byte replaced by 0xFF, which UTF-8 never holds; returns them."""
    data = bytearray(AuditEntry.objects.get(pk=log.entry_ids[21]).entry_bytes)
    data[30] = 0xFF
    with append_only_disabled("governance_auditentry") as cursor:
        cursor.execute(
            "UPDATE governance_auditentry SET entry_bytes = %s WHERE id = %s", [bytes(data), log.entry_ids[21]]
        )
        assert cursor.rowcount == 1
    return bytes(data)


def delete_middle_row(log: Log) -> None:
    with append_only_disabled("governance_auditleaf", "governance_auditentry") as cursor:
        cursor.execute("DELETE FROM governance_auditleaf WHERE seq = 21")
        cursor.execute("DELETE FROM governance_auditentry WHERE id = %s", [log.entry_ids[21]])
        assert cursor.rowcount == 1


def delete_an_entry_under_its_leaf(log: Log) -> None:
    """The leaf stays (no foreign key holds the entry): only the entry row goes."""
    with append_only_disabled("governance_auditentry") as cursor:
        cursor.execute("DELETE FROM governance_auditentry WHERE id = %s", [log.entry_ids[21]])
        assert cursor.rowcount == 1


def swap_two_seqs(log: Log) -> None:
    update = "UPDATE governance_auditleaf SET entry_id = %s, leaf_hash = %s WHERE seq = %s"
    with append_only_disabled("governance_auditleaf") as cursor:
        cursor.execute(update, [-1, log.leaves[25], 12])  # frees entry 12's id for the unique constraint
        cursor.execute(update, [log.entry_ids[12], log.leaves[12], 25])
        cursor.execute(update, [log.entry_ids[25], log.leaves[25], 12])


def rebuild(entries: list[tuple[int, bytes]]) -> None:
    """Truncate the leaf and node tables and re-insert these (entry id, leaf) rows as seqs 0..n-1 with
    a correctly recomputed tree: a log that is consistent in itself."""
    with append_only_disabled("governance_auditleaf", "governance_audittreenode") as cursor:
        cursor.execute("TRUNCATE governance_auditleaf, governance_audittreenode")
    AuditLeaf.objects.bulk_create(
        AuditLeaf(seq=seq, entry_id=entry_id, leaf_hash=leaf) for seq, (entry_id, leaf) in enumerate(entries)
    )
    compact = tlog.CompactRange()
    AuditTreeNode.objects.bulk_create(
        AuditTreeNode(level=node.level, index=node.index, hash=node.hash)
        for _, leaf in entries
        for node in compact.append(leaf)[1:]
    )


def subset_without_seq_20(log: Log) -> list[tuple[int, bytes]]:
    return [(entry_id, leaf) for seq, (entry_id, leaf) in enumerate(zip(log.entry_ids, log.leaves)) if seq != 20]


def truncate_and_reinsert_a_subset(log: Log) -> None:
    """Everything but seq 20, renumbered without a gap, topped up with a new entry so that the log
    keeps the size of its last checkpoint, and a correctly recomputed tree."""
    with transaction.atomic():
        extra = audit_record(
            actor=None, event_type=AuditEvent.AUDIT_LOG_VERIFIED, subject=AuditCheckpoint.objects.latest()
        )
    AuditPending.objects.filter(entry_id=extra.pk).delete()
    rebuild([*subset_without_seq_20(log), (extra.pk, bytes(extra.leaf_hash))])


def replace_node_table(log: Log) -> None:
    """The same positions, hashed without the RFC 6962 node prefix."""
    with append_only_disabled("governance_audittreenode") as cursor:
        cursor.execute("DELETE FROM governance_audittreenode")
    nodes, level, hashes = [], 0, log.leaves
    while len(hashes) > 1:
        hashes = [hashlib.sha256(hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes) - 1, 2)]
        level += 1
        nodes += [AuditTreeNode(level=level, index=index, hash=digest) for index, digest in enumerate(hashes)]
    AuditTreeNode.objects.bulk_create(nodes)
    assert len(nodes) == 40 - 2


def roll_back_to_checkpoint_16(log: Log) -> None:
    with append_only_disabled(*AUDIT_TABLES) as cursor:
        cursor.execute("DELETE FROM governance_auditleaf WHERE seq >= 16")
        cursor.execute("DELETE FROM governance_auditentry WHERE id = ANY(%s)", [log.entry_ids[16:]])
        cursor.execute('DELETE FROM governance_audittreenode WHERE ("index" + 1) * (1 << level) > 16')
        cursor.execute("DELETE FROM governance_auditcheckpoint WHERE size > 16")


def add_equal_size_checkpoint_with_another_root(log: Log) -> None:
    forged_root = hashlib.sha256(b"another history").digest()
    AuditCheckpoint.objects.create(size=40, root_hash=forged_root, note=sign(40, forged_root))


def add_checkpoint_signed_by_another_key(log: Log) -> None:
    root = tlog.root_from_leaves(log.leaves)
    AuditCheckpoint.objects.create(size=40, root_hash=root, note=sign(40, root, key=Ed25519PrivateKey.generate()))


def add_checkpoint_with_a_forged_signature_under_our_key_id(log: Log) -> None:
    root = tlog.root_from_leaves(log.leaves)
    forged = sign(40, root, key=Ed25519PrivateKey.generate())
    real = sign(40, root)
    # Keep the real note's key name and key ID (the first 4 bytes), put the other key's signature after.
    real_blob = tlog._b64decode_strict(real.rstrip("\n").rsplit(" ", 1)[1])
    forged_blob = tlog._b64decode_strict(forged.rstrip("\n").rsplit(" ", 1)[1])
    assert real_blob is not None and forged_blob is not None
    spliced = real.rstrip("\n").rsplit(" ", 1)[0] + " " + tlog._b64(real_blob[:4] + forged_blob[4:]) + "\n"
    AuditCheckpoint.objects.create(size=40, root_hash=root, note=spliced)


def add_checkpoint_for_another_origin(log: Log) -> None:
    root = tlog.root_from_leaves(log.leaves)
    AuditCheckpoint.objects.create(size=40, root_hash=root, note=sign(40, root, origin="another.example/audit-log"))


@dataclass(frozen=True)
class Case:
    tamper: Callable[[Log], object]
    db_code: str
    db_seq: int | None
    bundle_code: str
    bundle_seq: int | None
    known_size: int | None = None  # the verifiers are given the checkpoint note of this size, kept from before

    def __str__(self) -> str:
        return self.tamper.__name__


CASES = [
    Case(flip_entry_byte, "bad_entry", 21, "bad_entry", 21),
    Case(put_bytes_that_are_not_utf8, "bad_entry", 21, "bad_entry", 21),
    Case(delete_middle_row, "missing_entry", 21, "missing_entry", 21),
    Case(delete_an_entry_under_its_leaf, "missing_entry", 21, "missing_entry", 21),
    # The leaves still hash right one by one; their first common subtree [12, 14) no longer does. Offline,
    # the first checkpoint that no longer matches bounds the damage to seqs 8..15.
    Case(swap_two_seqs, "bad_node", 12, "root_mismatch", 8),
    # A tree consistent in itself: only the signed checkpoints betray it (27 is the first that differs);
    # offline, the consistency proof 16 -> 27 built from the new nodes does not reach the signed root.
    Case(truncate_and_reinsert_a_subset, "root_mismatch", 16, "inconsistent_checkpoints", None),
    # Offline the entries are intact; the consistency proofs built from the false nodes do not verify.
    Case(replace_node_table, "bad_node", 0, "inconsistent_checkpoints", None),
    Case(roll_back_to_checkpoint_16, "rolled_back", 16, "rolled_back", None, known_size=40),
    Case(add_equal_size_checkpoint_with_another_root, "inconsistent_checkpoints", 39, "inconsistent_checkpoints", None),
    Case(add_checkpoint_signed_by_another_key, "bad_checkpoint", None, "bad_checkpoint", None),
    Case(add_checkpoint_with_a_forged_signature_under_our_key_id, "bad_checkpoint", None, "bad_checkpoint", None),
    Case(add_checkpoint_for_another_origin, "bad_checkpoint", None, "bad_checkpoint", None),
]


# --------------------------------------------------------------------------------------------------
# Both verifiers
# --------------------------------------------------------------------------------------------------


def triggers_state() -> set[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'modelgov_reject_change' AND c.relname = ANY(%s)",
            [list(AUDIT_TABLES)],
        )
        return set(cursor.fetchall())


def expected_triggers() -> set[tuple[str, str, str]]:
    return {(table, f"{table}_append_only_{kind}", "A") for table in AUDIT_TABLES for kind in ("row", "truncate")}


def run_cli(tmp_path: Path, bundle: dict, known: str | None) -> subprocess.CompletedProcess:
    bundle_path, key_path = tmp_path / "bundle.json", tmp_path / "log.pub"
    bundle_path.write_text(json.dumps(bundle), encoding="utf-8")
    key_path.write_text(bundle["public_key_pem"], encoding="ascii")
    command = [sys.executable, "-m", "hooks.cli", "verify-log", str(bundle_path), "--key", str(key_path)]
    if known is not None:
        (tmp_path / "checkpoint.txt").write_text(known, encoding="utf-8")
        command += ["--checkpoint", str(tmp_path / "checkpoint.txt")]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_untampered_log_verifies_both_ways(log, log_key, tmp_path):
    out = io.StringIO()
    call_command(
        "verify_audit_log", "--no-record", "--checkpoint", str(write_note(tmp_path, log.notes[40])), stdout=out
    )
    root = tlog.root_from_leaves(log.leaves)
    b64root = tlog._b64(root)
    assert out.getvalue() == (
        f"audit log OK: 40 entries, 5 checkpoints verified, root {b64root}, 0 entries pending integration\n"
    )
    bundle = audit_export_bundle(start=None, end=None)
    report = verify_bundle(bundle, log_key, known_checkpoint=log.notes[16])
    assert (report.first_seq, report.end_seq, report.checkpoints, report.tree_size, report.root) == (0, 40, 4, 40, root)
    assert bundle["public_key_pem"] == public_key_pem(log_key)
    result = run_cli(tmp_path, bundle, log.notes[27])
    origin = settings.MODELGOV["LOG_ORIGIN"]
    assert (result.returncode, result.stdout) == (
        0,
        f"OK: entries 0..40 of {origin} verified against 4 signed checkpoints (tree size 40)\n",
    )
    assert AuditEntry.objects.count() == 40  # --no-record wrote nothing


def write_note(tmp_path: Path, note: str) -> Path:
    path = tmp_path / "known-checkpoint.txt"
    path.write_text(note, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=str)
def test_tampering_is_caught_by_both_verifiers(case, log, log_key, tmp_path):
    known = log.notes[case.known_size] if case.known_size else None
    case.tamper(log)
    assert triggers_state() == expected_triggers()

    arguments = ["--no-record"] + (["--checkpoint", str(write_note(tmp_path, known))] if known else [])
    entries_before = AuditEntry.objects.count()
    with pytest.raises(CommandError) as db_failure:
        call_command("verify_audit_log", *arguments)
    where = f" (first bad seq: {case.db_seq})" if case.db_seq is not None else ""
    assert str(db_failure.value).startswith(f"audit log INVALID [{case.db_code}]{where}: "), str(db_failure.value)
    assert db_failure.value.returncode == 1
    assert AuditEntry.objects.count() == entries_before

    bundle = audit_export_bundle(start=None, end=None)
    with pytest.raises(BundleError) as offline_failure:
        verify_bundle(bundle, log_key, known_checkpoint=known)
    assert (offline_failure.value.code, offline_failure.value.seq) == (case.bundle_code, case.bundle_seq), str(
        offline_failure.value
    )

    result = run_cli(tmp_path, bundle, known)
    where = f" (first bad seq: {case.bundle_seq})" if case.bundle_seq is not None else ""
    assert (result.returncode, result.stdout) == (1, f"INVALID [{case.bundle_code}]{where}: {offline_failure.value}\n")


def test_entry_bytes_that_are_not_utf8_are_exported_as_base64_and_caught(log, log_key):
    """The bundle carries entries as text; bytes that are not UTF-8 (only a changed row has them) are
    exported all the same, as ``entry_b64``, and fail their leaf hash with or without the JSON check."""
    data = put_bytes_that_are_not_utf8(log)
    bundle = audit_export_bundle(start=None, end=None)
    assert bundle["entries"][21] == {
        "seq": 21,
        "entry_b64": base64.b64encode(data).decode("ascii"),
        "leaf_hash": base64.b64encode(log.leaves[21]).decode("ascii"),
    }
    assert [seq for seq, item in enumerate(bundle["entries"]) if set(item) != {"seq", "entry", "leaf_hash"}] == [21]
    for check_json in (True, False):
        with pytest.raises(BundleError) as failure:
            verify_bundle(bundle, log_key, check_json=check_json)
        assert (failure.value.code, failure.value.seq, str(failure.value)) == (
            "bad_entry",
            21,
            "entry seq 21: its bytes do not hash to its leaf",
        )


def test_log_shorter_than_its_checkpoint_is_caught_and_not_exported(log):
    """Truncated and re-inserted without seq 20 (39 leaves, a tree consistent in itself): the database
    verifier names the first range that no longer matches a checkpoint, and the export service refuses
    (it would have to sign over the damage), writing nothing."""
    rebuild(subset_without_seq_20(log))
    with pytest.raises(CommandError) as db_failure:
        call_command("verify_audit_log", "--no-record")
    assert str(db_failure.value).startswith("audit log INVALID [root_mismatch] (first bad seq: 16): ")
    entries, checkpoints = AuditEntry.objects.count(), AuditCheckpoint.objects.count()
    with pytest.raises(CheckpointInconsistent) as refused:
        audit_log_export(actor=None, start=None, end=None)
    assert refused.value.extra == {"previous_size": 40, "size": 39}
    assert (AuditEntry.objects.count(), AuditCheckpoint.objects.count()) == (entries, checkpoints)


def test_rolled_back_log_verifies_without_a_checkpoint_kept_outside(log, log_key):
    """Why checkpoints are exported: a clean roll-back is only caught against one kept elsewhere."""
    roll_back_to_checkpoint_16(log)
    out = io.StringIO()
    call_command("verify_audit_log", "--no-record", stdout=out)
    assert out.getvalue().startswith("audit log OK: 16 entries, 2 checkpoints verified, ")
    assert verify_bundle(audit_export_bundle(start=None, end=None), log_key).tree_size == 16


def test_rolled_back_and_rewritten_log_is_caught_against_a_kept_checkpoint(log, log_key, subject, tmp_path):
    """After a roll-back to 16 the server signs a new history (it is consistent with 16); the checkpoint
    of size 40 kept from before shows the fork."""
    kept = log.notes[40]
    roll_back_to_checkpoint_16(log)
    audit_entries(30, subject=subject)
    assert audit_checkpoint_create().size == 46
    call_command("verify_audit_log", "--no-record", stdout=io.StringIO())
    with pytest.raises(CommandError) as db_failure:
        call_command("verify_audit_log", "--no-record", "--checkpoint", str(write_note(tmp_path, kept)))
    assert str(db_failure.value).startswith("audit log INVALID [root_mismatch] (first bad seq: 16): ")
    with pytest.raises(BundleError) as offline_failure:
        verify_bundle(audit_export_bundle(start=None, end=None), log_key, known_checkpoint=kept)
    assert offline_failure.value.code == "forked"


def test_edited_entry_columns_are_caught_by_the_database_verifier(log, log_key):
    """The columns beside entry_bytes are what the API lists and filters (actor, event, after): the
    verifier that "trusts nothing it can re-derive" must notice when they no longer match the bytes."""
    with append_only_disabled("governance_auditentry") as cursor:
        cursor.execute(
            "UPDATE governance_auditentry SET actor_name = 'somebody-else', after = '{\"n\": 99}' WHERE id = %s",
            [log.entry_ids[5]],
        )
    # The exported bytes are untouched, so the bundle rightly verifies.
    assert verify_bundle(audit_export_bundle(start=None, end=None), log_key).tree_size == 40
    with pytest.raises(CommandError) as db_failure:
        call_command("verify_audit_log", "--no-record")
    assert str(db_failure.value).startswith("audit log INVALID [bad_entry] (first bad seq: 5): ")


def test_an_entry_taken_off_the_queue_unplaced_is_named_by_the_database_verifier(log, subject):
    """A deleted queue row would keep a committed entry out of the log for good; a queued one is fine."""
    with transaction.atomic():
        [queued, dequeued] = audit_entries_in_one_transaction(subject, 2)
    assert not AuditLeaf.objects.filter(entry_id__in=[queued.pk, dequeued.pk]).exists()
    call_command("verify_audit_log", "--no-record", stdout=io.StringIO())  # two queued entries: fine

    AuditPending.objects.filter(entry_id=dequeued.pk).delete()

    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_log", "--no-record")
    assert str(failure.value) == (
        f"audit log INVALID [dequeued_entry]: entry {dequeued.pk} has no seq and is not queued for one: "
        "it was taken off the integrator's queue"
    )


def test_an_integrated_entry_queued_again_is_named_by_the_database_verifier(log):
    entry_id = log.entry_ids[3]
    leaf = AuditLeaf.objects.get(entry_id=entry_id)
    AuditPending.objects.create(entry_id=entry_id, leaf_hash=bytes(leaf.leaf_hash))

    with pytest.raises(CommandError) as failure:
        call_command("verify_audit_log", "--no-record")
    assert str(failure.value) == (
        f"audit log INVALID [requeued_entry]: entry {entry_id} has a seq and is queued again: "
        "the queue row blocks every integration"
    )


def audit_entries_in_one_transaction(subject, count):
    return [
        audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject, after={"n": n})
        for n in range(count)
    ]


def test_verification_is_itself_logged(log):
    call_command("verify_audit_log", stdout=io.StringIO())
    checkpoint = AuditCheckpoint.objects.latest()
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.event_type, entry.actor_id, entry.actor_name, entry.subject_type, entry.subject_id, entry.after) == (
        "AUDIT_LOG_VERIFIED",
        None,
        "system",
        "governance.AuditCheckpoint",
        str(checkpoint.pk),
        {"ok": True, "size": 40, "checkpoints": 4},
    )
    flip_entry_byte(log)
    with pytest.raises(CommandError):
        call_command("verify_audit_log")
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.event_type, entry.after) == ("AUDIT_LOG_VERIFIED", {"ok": False, "code": "bad_entry", "seq": 21})
    assert AuditEntry.objects.count() == 42


def test_untampered_log_is_verified_set_based_without_the_walk(log):
    """The set-based checks accept a sound log by themselves (the walk is only for naming a problem)."""
    roots = {size: tlog.root_from_leaves(log.leaves[:size]) for size in (0, *CHECKPOINT_SIZES)}
    assert _verified_at_once({0, *CHECKPOINT_SIZES}) == (40, roots)


def test_entries_with_every_kind_of_value_are_verified_set_based(subject):
    """The columns as PostgreSQL rebuilds them equal the signed document for what services record:
    an actor, text that JSON escapes, numbers, nesting, nulls, a request id."""
    actor = UserFactory(username="zoë-reviewer")
    values = {"name": 'Zoë "quoted"\n\ttab \\ ✓', "score": 0.1, "big": 10**20, "list": [1, {"b": None}], "no": False}
    with transaction.atomic():
        audit_record(
            actor=actor,
            event_type=AuditEvent.REGISTERED_MODEL_UPDATED,
            subject=subject,
            model_name="credit-default-pd",
            before=values,
            after={**values, "score": -2.5e-7},
            request_id="req-7",
        )
        audit_record(actor=None, event_type=AuditEvent.AUDIT_LOG_VERIFIED, subject=subject, before=None, after={})
    size = audit_checkpoint_create().size
    leaves = [bytes(leaf) for leaf in AuditLeaf.objects.order_by("seq").values_list("leaf_hash", flat=True)]
    assert _verified_at_once({size}) == (size, {size: tlog.root_from_leaves(leaves)})


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xff not json", "the entry's bytes are not JSON"),
        (b"[1, 2]", "the stored created_at column no longer matches the entry's bytes"),
        (b"5", "the stored created_at column no longer matches the entry's bytes"),  # jsonb: no "- 'v'" on a scalar
        (b'{"v":1}', "the stored created_at column no longer matches the entry's bytes"),
        # PostgreSQL's jsonb refuses \u0000: the set-based check cannot read it, the walk can.
        (b'{"time":"\\u0000"}', "the stored created_at column no longer matches the entry's bytes"),
    ],
)
def test_entry_rewritten_with_its_hashes_is_named_by_the_database_verifier(log, data, problem):
    """Bytes that hash to the (rewritten) leaves but no longer carry the columns, or are not JSON."""
    leaf = tlog.leaf_hash(data)
    with append_only_disabled("governance_auditentry", "governance_auditleaf") as cursor:
        cursor.execute(
            "UPDATE governance_auditentry SET entry_bytes = %s, leaf_hash = %s WHERE id = %s",
            [data, leaf, log.entry_ids[9]],
        )
        cursor.execute("UPDATE governance_auditleaf SET leaf_hash = %s WHERE seq = 9", [leaf])
    assert _verified_at_once({40}) is None
    with pytest.raises(CommandError) as db_failure:
        call_command("verify_audit_log", "--no-record")
    assert str(db_failure.value) == f"audit log INVALID [bad_entry] (first bad seq: 9): seq 9: {problem}"


def test_node_beyond_the_log_is_named_by_the_database_verifier(log):
    AuditTreeNode.objects.create(level=3, index=5, hash=hashlib.sha256(b"beyond").digest())
    assert _verified_at_once({40}) is None
    with pytest.raises(CommandError) as db_failure:
        call_command("verify_audit_log", "--no-record")
    assert str(db_failure.value) == (
        "audit log INVALID [bad_node] (first bad seq: 40): tree node level 3 index 5 lies beyond the log"
    )

"""The audit-log API: entries (filters and who sees what), inclusion and consistency proofs,
checkpoints, and export bundles that verify offline."""

import base64
import hashlib

import pytest
from django.conf import settings

from core.signing import public_key_pem
from governance.audit.services import audit_checkpoint_create, audit_log_integrate
from governance.models import AuditCheckpoint, AuditEntry, AuditLeaf
from hooks import tlog
from hooks.bundle import verify_bundle
from tests.conftest import client_for
from tests.factories import audit_entries

ENDPOINTS = [
    ("get", "/api/v1/audit/entries/"),
    ("get", "/api/v1/audit/entries/0/proof"),
    ("get", "/api/v1/audit/consistency?from=0&to=0"),
    ("get", "/api/v1/audit/checkpoints/latest"),
    ("post", "/api/v1/audit/checkpoints/latest"),
    ("get", "/api/v1/audit/export"),
]


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def leaves() -> list[bytes]:
    return [bytes(leaf) for leaf in AuditLeaf.objects.order_by("seq").values_list("leaf_hash", flat=True)]


def entries_of(response) -> list[dict]:
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == len(body["results"])
    return body["results"]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_gets_401(world, method, url):
    before = (AuditEntry.objects.count(), AuditCheckpoint.objects.count())
    response = getattr(client_for(None), method)(url)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert (AuditEntry.objects.count(), AuditCheckpoint.objects.count()) == before


# --------------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["auditor", "officer"])
def test_auditors_and_compliance_officers_read_every_entry(world, reader):
    client = client_for(getattr(world, reader))
    size = audit_log_integrate()
    results = entries_of(client.get("/api/v1/audit/entries/", {"page_size": 500}))
    assert [item["id"] for item in results] == list(AuditEntry.objects.order_by("id").values_list("id", flat=True))
    assert [item["seq"] for item in results] == list(range(size))
    first = AuditEntry.objects.order_by("id").first()
    assert results[0] == {
        "id": first.pk,
        "seq": 0,
        "created_at": results[0]["created_at"],
        "actor_name": first.actor_name,
        "event_type": first.event_type,
        "subject_type": first.subject_type,
        "subject_id": first.subject_id,
        "subject_repr": first.subject_repr,
        "model_name": first.model_name,
        "before": first.before,
        "after": first.after,
        "request_id": first.request_id,
        "entry": base64.b64encode(bytes(first.entry_bytes)).decode(),
        "leaf_hash": base64.b64encode(bytes(first.leaf_hash)).decode(),
    }


def test_pending_entries_are_listed_without_a_seq(world):
    results = entries_of(client_for(world.auditor).get("/api/v1/audit/entries/", {"page_size": 500}))
    assert {item["seq"] for item in results} == {None}


@pytest.mark.parametrize(
    ("reader", "models"),
    [("owner_a", {"model-a"}), ("owner_b", {"model-b"}), ("ci_a", {"model-a"}), ("validator", set())],
)
def test_others_read_only_entries_about_models_they_may_view(world, reader, models):
    results = entries_of(client_for(getattr(world, reader)).get("/api/v1/audit/entries/", {"page_size": 500}))
    expected = AuditEntry.objects.filter(model_name__in=models).order_by("id")
    assert [item["id"] for item in results] == list(expected.values_list("id", flat=True))
    assert {item["event_type"] for item in results} == (
        {"REGISTERED_MODEL_CREATED", "MODEL_VERSION_REGISTERED"} if models else set()
    )
    assert len(results) == 2 * len(models)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"event_type": "MODEL_VERSION_REGISTERED"},
            [("MODEL_VERSION_REGISTERED", "model-a"), ("MODEL_VERSION_REGISTERED", "model-b")],
        ),
        ({"model": "model-b"}, [("REGISTERED_MODEL_CREATED", "model-b"), ("MODEL_VERSION_REGISTERED", "model-b")]),
        ({"actor": "ci-a"}, [("MODEL_VERSION_REGISTERED", "model-a")]),
        ({"actor": "ci-a", "model": "model-b"}, []),
        ({"event_type": "NO_SUCH_EVENT"}, []),
    ],
)
def test_entries_filter(world, query, expected):
    results = entries_of(client_for(world.auditor).get("/api/v1/audit/entries/", query))
    assert [(item["event_type"], item["model_name"]) for item in results] == expected


def test_entries_filter_by_subject(world):
    client = client_for(world.auditor)
    query = {"subject_type": "registry.ModelVersion", "subject_id": str(world.version_a1.pk)}
    results = entries_of(client.get("/api/v1/audit/entries/", query))
    assert [(item["event_type"], item["subject_repr"]) for item in results] == [
        ("MODEL_VERSION_REGISTERED", "model-a v1")
    ]
    everything_about_versions = entries_of(
        client.get("/api/v1/audit/entries/", {"subject_type": "registry.ModelVersion"})
    )
    assert [item["subject_repr"] for item in everything_about_versions] == ["model-a v1", "model-b v1"]


def test_entries_filter_by_time(world):
    client = client_for(world.auditor)
    first, second, third = audit_entries(3, subject=world.team_a, model_name="model-a")
    assert first.created_at < second.created_at < third.created_at

    def ids(query: dict) -> list[int]:
        return [item["id"] for item in entries_of(client.get("/api/v1/audit/entries/", {**query, "page_size": 500}))]

    assert ids({"since": second.created_at.isoformat()}) == [second.pk, third.pk]
    assert ids({"since": first.created_at.isoformat(), "until": third.created_at.isoformat()}) == [first.pk, second.pk]
    assert ids({"until": first.created_at.isoformat()}) == list(
        AuditEntry.objects.filter(pk__lt=first.pk).order_by("id").values_list("id", flat=True)
    )


def test_filters_do_not_widen_what_an_owner_sees(world):
    client = client_for(world.owner_a)
    assert entries_of(client.get("/api/v1/audit/entries/", {"model": "model-b"})) == []
    assert entries_of(client.get("/api/v1/audit/entries/", {"event_type": "SIGNING_KEY_REGISTERED"})) == []


@pytest.mark.parametrize(("reader", "queries"), [("auditor", 5), ("owner_a", 5)])
def test_entry_list_query_count_does_not_grow_with_entries(world, reader, queries, django_assert_num_queries):
    """Token, the user's and the groups' permissions, the count, the page (the leaf joined in). The first
    request also stamps the token's last use and warms the content-type cache, so it is not counted."""
    client = client_for(getattr(world, reader))
    audit_log_integrate()
    assert client.get("/api/v1/audit/entries/").status_code == 200
    with django_assert_num_queries(queries):
        assert client.get("/api/v1/audit/entries/").status_code == 200
    audit_entries(30, subject=world.team_a, model_name="model-a")
    audit_log_integrate()
    with django_assert_num_queries(queries):
        assert len(entries_of(client.get("/api/v1/audit/entries/", {"page_size": 500}))) >= 30


# --------------------------------------------------------------------------------------------------
# Proofs
# --------------------------------------------------------------------------------------------------


def test_inclusion_proofs_verify_for_every_entry_and_size(world):
    client = client_for(world.auditor)
    audit_entries(5, subject=world.team_a)
    size = audit_log_integrate()
    assert size == 12
    all_leaves = leaves()
    for tree_size in (1, 5, 8, size):
        for seq in range(tree_size):
            response = client.get(f"/api/v1/audit/entries/{seq}/proof", {"tree_size": tree_size})
            assert response.status_code == 200, response.json()
            body = response.json()
            assert (body["seq"], body["tree_size"], body["checkpoint"]) == (seq, tree_size, None)
            leaf = b64d(body["leaf_hash"])
            assert leaf == hashlib.sha256(b"\x00" + b64d(body["entry"])).digest() == all_leaves[seq]
            root = b64d(body["root_hash"])
            assert root == tlog.root_from_leaves(all_leaves[:tree_size])
            tlog.verify_inclusion(leaf, seq, tree_size, [b64d(node) for node in body["proof"]], root)


def test_inclusion_proof_defaults_to_the_latest_checkpoint_and_carries_it(world, log_key):
    client = client_for(world.auditor)
    checkpoint = audit_checkpoint_create()
    audit_entries(3, subject=world.team_a)
    audit_log_integrate()
    body = client.get("/api/v1/audit/entries/2/proof").json()
    assert (body["tree_size"], body["checkpoint"]) == (checkpoint.size, checkpoint.note)
    opened = tlog.open_checkpoint(body["checkpoint"], settings.MODELGOV["LOG_KEY_NAME"], log_key)
    tlog.verify_inclusion(b64d(body["leaf_hash"]), 2, opened.size, [b64d(node) for node in body["proof"]], opened.root)


@pytest.mark.parametrize(
    ("seq", "tree_size", "extra"),
    [
        (5, 5, {"seq": 5, "tree_size": 5}),
        (6, 3, {"seq": 6, "tree_size": 3}),
        (0, 0, {"seq": 0, "tree_size": 0}),
        (1, "size+1", {"tree_size": "size+1", "current": "size"}),
    ],
)
def test_inclusion_proof_out_of_range_is_400(world, seq, tree_size, extra):
    client = client_for(world.auditor)
    size = audit_log_integrate()
    resolve = {"size": size, "size+1": size + 1}
    tree_size = resolve.get(tree_size, tree_size)
    extra = {key: resolve.get(value, value) for key, value in extra.items()}
    response = client.get(f"/api/v1/audit/entries/{seq}/proof", {"tree_size": tree_size})
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["extra"]) == ("tree_size_out_of_range", extra)


def test_proof_of_an_entry_not_integrated_is_409(world):
    client = client_for(world.auditor)
    size = audit_log_integrate()
    response = client.get(f"/api/v1/audit/entries/{size}/proof")
    assert response.status_code == 409
    assert response.json() == {
        "code": "entry_not_integrated",
        "message": f"No integrated entry with seq {size}.",
        "extra": {"seq": size},
    }


def test_owner_gets_proofs_only_for_entries_they_may_read(world):
    client = client_for(world.owner_a)
    audit_log_integrate()
    own = AuditLeaf.objects.get(entry__model_name="model-a", entry__event_type="MODEL_VERSION_REGISTERED").seq
    other = AuditLeaf.objects.get(entry__model_name="model-b", entry__event_type="MODEL_VERSION_REGISTERED").seq
    assert client.get(f"/api/v1/audit/entries/{own}/proof").status_code == 200
    response = client.get(f"/api/v1/audit/entries/{other}/proof")
    # The same answer as for a seq that does not exist: nothing about the entry leaks.
    assert response.status_code == 409
    assert response.json() == {
        "code": "entry_not_integrated",
        "message": f"No integrated entry with seq {other}.",
        "extra": {"seq": other},
    }


def test_consistency_proofs_verify_between_every_pair_of_sizes(world):
    client = client_for(world.auditor)
    size = audit_log_integrate()
    all_leaves = leaves()
    for old in range(size + 1):
        for new in range(old, size + 1):
            response = client.get("/api/v1/audit/consistency", {"from": old, "to": new})
            assert response.status_code == 200, response.json()
            body = response.json()
            old_root, new_root = b64d(body["from_root"]), b64d(body["to_root"])
            assert (body["from"], body["to"]) == (old, new)
            assert old_root == tlog.root_from_leaves(all_leaves[:old])
            assert new_root == tlog.root_from_leaves(all_leaves[:new])
            tlog.verify_consistency(old, new, old_root, new_root, [b64d(node) for node in body["proof"]])


def test_consistency_proof_carries_the_checkpoints_at_both_sizes(world):
    client = client_for(world.auditor)
    first = audit_checkpoint_create()
    audit_entries(5, subject=world.team_a)
    second = audit_checkpoint_create()
    body = client.get("/api/v1/audit/consistency", {"from": first.size, "to": second.size}).json()
    assert (body["from_checkpoint"], body["to_checkpoint"]) == (first.note, second.note)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"from": 5, "to": 3}, "tree_size_out_of_range"),
        ({"from": 0, "to": "size+1"}, "tree_size_out_of_range"),
        ({"from": 0}, "validation_error"),
        ({"from": -1, "to": 2}, "validation_error"),
    ],
)
def test_consistency_out_of_range_is_400(world, query, code):
    client = client_for(world.auditor)
    size = audit_log_integrate()
    query = {key: size + 1 if value == "size+1" else value for key, value in query.items()}
    response = client.get("/api/v1/audit/consistency", query)
    assert response.status_code == 400
    assert response.json()["code"] == code


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------


def test_latest_checkpoint_is_404_before_any(world):
    response = client_for(world.auditor).get("/api/v1/audit/checkpoints/latest")
    assert response.status_code == 404
    assert response.json() == {"code": "no_checkpoint", "message": "No checkpoint has been signed yet.", "extra": {}}


@pytest.mark.parametrize("user", ["owner_a", "auditor", "validator"])
def test_signing_a_checkpoint_is_403_for_others(world, user):
    client = client_for(getattr(world, user))
    entries = AuditEntry.objects.count()
    response = client.post("/api/v1/audit/checkpoints/latest")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert AuditCheckpoint.objects.count() == 0
    assert AuditLeaf.objects.count() == 0
    assert AuditEntry.objects.count() == entries


def test_compliance_officer_signs_a_checkpoint_and_it_is_the_latest(world, log_key):
    client = client_for(world.officer)
    response = client.post("/api/v1/audit/checkpoints/latest")
    assert response.status_code == 201
    body = response.json()
    checkpoint = AuditCheckpoint.objects.get()
    size = AuditEntry.objects.count()  # every committed entry, the officer's token included, is integrated
    assert body == {
        "size": size,
        "root_hash": base64.b64encode(tlog.root_from_leaves(leaves())).decode(),
        "note": checkpoint.note,
        "created_at": body["created_at"],
    }
    opened = tlog.open_checkpoint(
        body["note"], settings.MODELGOV["LOG_KEY_NAME"], log_key, origin=settings.MODELGOV["LOG_ORIGIN"]
    )
    assert (opened.size, opened.root) == (size, b64d(body["root_hash"]))
    assert client_for(world.owner_a).get("/api/v1/audit/checkpoints/latest").json() == body


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------


def test_owner_may_not_export_and_nothing_is_written(world):
    client = client_for(world.owner_a)
    entries = AuditEntry.objects.count()
    response = client.get("/api/v1/audit/export")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert (AuditEntry.objects.count(), AuditCheckpoint.objects.count(), AuditLeaf.objects.count()) == (entries, 0, 0)


@pytest.mark.parametrize("exporter", ["auditor", "officer"])
def test_export_verifies_offline_and_is_logged(world, log_key, exporter):
    user = getattr(world, exporter)
    client = client_for(user)
    response = client.get("/api/v1/audit/export")
    assert response.status_code == 200
    bundle = response.json()
    checkpoint = AuditCheckpoint.objects.get()
    report = verify_bundle(bundle, log_key)
    assert (report.first_seq, report.end_seq, report.tree_size, report.root) == (
        0,
        checkpoint.size,
        checkpoint.size,
        bytes(checkpoint.root_hash),
    )
    assert bundle["public_key_pem"] == public_key_pem(log_key)
    assert len(bundle["entries"]) == checkpoint.size == AuditEntry.objects.count() - 1
    assert bundle["format"] == "modelgov-audit-bundle/v2"
    stored = AuditLeaf.objects.order_by("seq").values_list("seq", "entry__entry_bytes")[: checkpoint.size]
    assert [(item["seq"], item["entry"].encode("utf-8")) for item in bundle["entries"]] == [
        (seq, bytes(data)) for seq, data in stored
    ]
    logged = AuditEntry.objects.order_by("-id").first()
    assert (logged.event_type, logged.actor_id, logged.actor_name, logged.subject_type, logged.subject_id) == (
        "AUDIT_LOG_EXPORTED",
        user.pk,
        user.username,
        "governance.AuditCheckpoint",
        str(checkpoint.pk),
    )
    assert logged.after == {"from": 0, "to": checkpoint.size, "checkpoint_size": checkpoint.size}


def test_partial_export_verifies_with_its_range_proof(world, log_key):
    client = client_for(world.auditor)
    audit_entries(9, subject=world.team_a)
    response = client.get("/api/v1/audit/export", {"from": 3, "to": 9})
    assert response.status_code == 200
    bundle = response.json()
    size = AuditCheckpoint.objects.get().size
    assert [item["seq"] for item in bundle["entries"]] == [3, 4, 5, 6, 7, 8]
    assert bundle["range_proof"] != []
    report = verify_bundle(bundle, log_key)
    assert (report.first_seq, report.end_seq, report.tree_size) == (3, 9, size)
    logged = AuditEntry.objects.order_by("-id").first()
    assert (logged.event_type, logged.actor_name, logged.after) == (
        "AUDIT_LOG_EXPORTED",
        "auditor",
        {"from": 3, "to": 9, "checkpoint_size": size},
    )


def test_second_export_covers_the_first_export_entry(world, log_key):
    client = client_for(world.auditor)
    first = client.get("/api/v1/audit/export").json()
    second = client.get("/api/v1/audit/export").json()
    assert second["to"] == first["to"] + 1
    assert second["entries"][-1]["entry"].startswith(f'{{"actor":{{"id":{world.auditor.pk},"name":"auditor"}}')
    assert verify_bundle(second, log_key, known_checkpoint=first["checkpoints"][-1]).tree_size == second["to"]


def test_export_carries_entry_text_beyond_ascii_as_the_signed_bytes(world, log_key):
    """The API writes the bundle as UTF-8 JSON; an entry's string is its text, whose UTF-8 is the
    stored bytes (the model name holds a two-, a three- and a four-byte character)."""
    name = "mod\u00e8le \u2603 \U0001f600"
    audit_entries(1, subject=world.team_a, model_name=name)
    response = client_for(world.auditor).get("/api/v1/audit/export")
    assert response.status_code == 200
    bundle = response.json()
    [item] = [item for item in bundle["entries"] if f'"model":"{name}"' in item["entry"]]
    assert set(item) == {"seq", "entry", "leaf_hash"}
    stored = AuditLeaf.objects.get(seq=item["seq"])
    assert item["entry"].encode("utf-8") == bytes(stored.entry.entry_bytes)
    assert b64d(item["leaf_hash"]) == bytes(stored.leaf_hash)
    assert verify_bundle(bundle, log_key).tree_size == bundle["to"]


@pytest.mark.parametrize("query", [{"from": 9, "to": 3}, {"to": 100000}, {"from": 100000}])
def test_export_of_a_range_outside_the_log_is_400(world, query):
    client = client_for(world.auditor)
    entries = AuditEntry.objects.count()
    response = client.get("/api/v1/audit/export", query)
    assert response.status_code == 400
    assert response.json()["code"] == "tree_size_out_of_range"
    assert AuditEntry.objects.count() == entries


def test_refused_export_signs_no_checkpoint(world):
    """A refused request writes nothing: the range is checked before a checkpoint is signed for it."""
    client = client_for(world.auditor)
    response = client.get("/api/v1/audit/export", {"from": 9, "to": 3})
    assert response.status_code == 400
    assert AuditCheckpoint.objects.count() == 0

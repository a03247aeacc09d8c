"""governance.services.audit_record: one entry per write, in the write's transaction, with exact
canonical bytes and their RFC 6962 leaf hash."""

import hashlib
import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from governance.choices import AuditEvent
from governance.models import AuditEntry
from governance.services import audit_record
from registry.errors import DuplicateArtifact
from registry.services import model_version_register, registered_model_create, registered_model_update
from tests.factories import make_manifest, version_payload
from tests.helpers import audit_entries_after, iso_z, last_audit_id, nothing_written


def test_entry_bytes_are_canonical_json_of_the_entry(world):
    last = last_audit_id()

    registered_model_update(actor=world.officer, model=world.model_a, changes={"display_name": "Crédit 🚀"})

    [entry] = audit_entries_after(last)
    raw = bytes(entry.entry_bytes)
    document = json.loads(raw)
    assert raw == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert list(document) == sorted(document)
    assert "Crédit 🚀".encode() in raw  # UTF-8 as is, not \u escapes
    assert document == {
        "v": 1,
        "time": iso_z(entry.created_at),
        "actor": {"id": world.officer.pk, "name": "officer"},
        "event": "REGISTERED_MODEL_UPDATED",
        "subject": {"type": "registry.RegisteredModel", "id": str(world.model_a.pk), "repr": "model-a"},
        "model": "model-a",
        "before": {"display_name": ""},
        "after": {"display_name": "Crédit 🚀"},
        "request_id": "",
    }


def test_leaf_hash_is_sha256_of_zero_byte_and_entry_bytes(world):
    entries = list(AuditEntry.objects.all())

    assert len(entries) == 6  # the world's two models, two team keys and two versions
    for entry in entries:
        leaf = bytes(entry.leaf_hash)
        assert len(leaf) == 32
        assert leaf == hashlib.sha256(b"\x00" + bytes(entry.entry_bytes)).digest()


def test_columns_index_the_same_facts_as_the_bytes(world):
    for entry in AuditEntry.objects.all():
        document = json.loads(bytes(entry.entry_bytes))
        assert document["event"] == entry.event_type
        assert document["actor"] == {"id": entry.actor_id, "name": entry.actor_name}
        assert document["subject"] == {"type": entry.subject_type, "id": entry.subject_id, "repr": entry.subject_repr}
        assert (document["model"], document["before"], document["after"]) == (
            entry.model_name,
            entry.before,
            entry.after,
        )
        assert document["time"] == iso_z(entry.created_at)


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_entry_without_a_person_is_by_system(world, actor):
    with transaction.atomic():
        entry = audit_record(
            actor=actor, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=world.model_a, model_name="model-a"
        )

    assert (entry.actor_id, entry.actor_name) == (None, "system")
    assert json.loads(bytes(entry.entry_bytes))["actor"] == {"id": None, "name": "system"}


def test_explicit_request_id_is_recorded(world):
    with transaction.atomic():
        entry = audit_record(
            actor=world.officer,
            event_type=AuditEvent.REGISTERED_MODEL_UPDATED,
            subject=world.model_a,
            request_id="job-17",
        )

    assert entry.request_id == "job-17"
    assert json.loads(bytes(entry.entry_bytes))["request_id"] == "job-17"


def test_one_entry_per_write(world):
    last = last_audit_id()

    model = registered_model_create(actor=world.officer, name="model-x", team="team-a", risk_tier="low")
    for seed in ("x1", "x2"):
        model_version_register(
            actor=world.ci_a, model=model, **version_payload(model=model, manifest=make_manifest(seed))
        )
    registered_model_update(actor=world.officer, model=model, changes={"risk_tier": "high", "description": "d"})
    registered_model_update(actor=world.officer, model=model, changes={"risk_tier": "high"})  # no change

    entries = audit_entries_after(last)
    assert [(entry.event_type, entry.actor_name, entry.model_name) for entry in entries] == [
        ("REGISTERED_MODEL_CREATED", "officer", "model-x"),
        ("MODEL_VERSION_REGISTERED", "ci-a", "model-x"),
        ("MODEL_VERSION_REGISTERED", "ci-a", "model-x"),
        ("REGISTERED_MODEL_UPDATED", "officer", "model-x"),
    ]
    assert entries[3].before == {"description": "", "risk_tier": "low"}
    assert entries[3].after == {"description": "d", "risk_tier": "high"}


class Boom(Exception):
    pass


def test_rolled_back_model_creation_leaves_no_entry(world):
    with nothing_written(), pytest.raises(Boom), transaction.atomic():
        registered_model_create(actor=world.officer, name="model-x", team="team-a", risk_tier="low")
        raise Boom


def test_rolled_back_version_registration_leaves_no_entry(world):
    with nothing_written(), pytest.raises(Boom), transaction.atomic():
        model_version_register(
            actor=world.ci_a, model=world.model_a, **version_payload(model=world.model_a, manifest=make_manifest("r"))
        )
        raise Boom


def test_rolled_back_update_leaves_no_entry(world):
    with nothing_written(), pytest.raises(Boom), transaction.atomic():
        registered_model_update(actor=world.officer, model=world.model_a, changes={"team": "team-b"})
        raise Boom


def test_a_failed_write_leaves_no_entry_and_the_next_one_is_logged(world):
    with nothing_written(), pytest.raises(DuplicateArtifact):
        model_version_register(
            actor=world.ci_a, model=world.model_a, **version_payload(model=world.model_a, manifest=make_manifest("a1"))
        )
    last = last_audit_id()

    model_version_register(
        actor=world.ci_a, model=world.model_a, **version_payload(model=world.model_a, manifest=make_manifest("ok"))
    )

    assert [entry.event_type for entry in audit_entries_after(last)] == ["MODEL_VERSION_REGISTERED"]

"""A revoke (or a move of the model to another team) that commits while a registration is under way:
the registration re-reads the key under a row lock inside its transaction, so a revoke committed
before that point stops it, and a revoke that comes later waits until the version is in.

To interleave, these tests wrap the registration's own steps (``verify_producer_signature`` and
``countersign``, as ``registry.services`` calls them) so that the competing write runs at that point,
in another thread with its own database connection and transaction. Patching our own functions is
done here only to choose that moment; the wrapped functions still run."""

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, connection, transaction

from governance.models import AuditEntry
from registry import services
from registry.errors import SigningKeyNotForTeam, SigningKeyRevoked
from registry.models import ModelVersion, SigningKey
from registry.services import model_version_register, registered_model_update, signing_key_revoke
from tests.factories import make_manifest, team_key, version_payload
from tests.helpers import assert_audited, last_audit_id

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LOCK_NOT_AVAILABLE = "55P03"


def in_other_connection(write: Callable[[], Any]) -> list[Any]:
    """Run ``write`` in a thread of its own (its own connection, its own committed transaction) and wait
    for it; returns what it returned or raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(write())
        except Exception as exc:  # handed back to the test, which asserts it
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return outcome


def at_signature_check(write: Callable[[], Any]) -> Any:
    """A patch of the registration's signature check that first commits ``write`` elsewhere: after
    the key was checked, before the registration's transaction."""
    verify = services.verify_producer_signature

    def write_then_verify(**kwargs: Any) -> Any:
        in_other_connection(write)
        return verify(**kwargs)

    return mock.patch("registry.services.verify_producer_signature", write_then_verify)


def versions_of(model: Any) -> list[int]:
    return list(ModelVersion.objects.filter(model=model).order_by("version").values_list("version", flat=True))


def test_a_revoke_committed_after_the_key_check_stops_the_registration(world):
    _, key = team_key(world.team_a)
    payload = version_payload(model=world.model_a, manifest=make_manifest("race-revoke"))
    last = last_audit_id()

    def revoke() -> SigningKey:
        return signing_key_revoke(actor=world.owner_a, signing_key=key, reason="compromised")

    with at_signature_check(revoke), pytest.raises(SigningKeyRevoked) as refused:
        model_version_register(actor=world.ci_a, model=world.model_a, **payload)

    revoked_at = SigningKey.objects.get(pk=key.pk).revoked_at
    assert revoked_at is not None
    assert refused.value.extra == {"signing_key": key.fingerprint, "revoked_at": revoked_at.isoformat()}
    assert versions_of(world.model_a) == [1]
    # Only the revoke is logged; the refused registration wrote nothing.
    assert_audited(last, ("SIGNING_KEY_REVOKED", "owner-a", ""))


def test_a_move_to_another_team_committed_after_the_key_check_stops_the_registration(world):
    _, key = team_key(world.team_a)
    payload = version_payload(model=world.model_a, manifest=make_manifest("race-team"))
    last = last_audit_id()

    def move() -> Any:
        return registered_model_update(actor=world.officer, model=world.model_a, changes={"team": "team-b"})

    with at_signature_check(move), pytest.raises(SigningKeyNotForTeam) as refused:
        model_version_register(actor=world.ci_a, model=world.model_a, **payload)

    assert refused.value.extra == {"signing_key": key.fingerprint, "team": "team-b"}
    assert refused.value.message == "This key is not registered to team 'team-b', which owns model 'model-a'."
    assert versions_of(world.model_a) == [1]
    assert_audited(last, ("REGISTERED_MODEL_UPDATED", "officer", "model-a"))


def test_a_revoke_during_the_registrations_transaction_waits_for_it(world):
    """The revoke tries while the registration holds the key's row (at the countersignature): it cannot
    take the row within its lock timeout. Once the version is in, the same revoke goes through."""
    _, key = team_key(world.team_a)
    payload = version_payload(model=world.model_a, manifest=make_manifest("race-wait"))
    countersign = services.countersign
    tried: list[Any] = []

    def revoke_within_200ms() -> SigningKey:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            return signing_key_revoke(actor=world.owner_a, signing_key=key, reason="compromised")

    def revoke_then_countersign(statement: bytes) -> Any:
        tried.extend(in_other_connection(revoke_within_200ms))
        return countersign(statement)

    last = last_audit_id()
    with mock.patch("registry.services.countersign", revoke_then_countersign):
        version = model_version_register(actor=world.ci_a, model=world.model_a, **payload)

    [blocked] = tried
    assert isinstance(blocked, OperationalError)
    assert blocked.__cause__.pgcode == LOCK_NOT_AVAILABLE
    assert (version.version, version.signing_key_id) == (2, key.pk)
    assert SigningKey.objects.get(pk=key.pk).revoked_at is None
    assert AuditEntry.objects.filter(id__gt=last).count() == 1

    signing_key_revoke(actor=world.owner_a, signing_key=key, reason="compromised")

    assert_audited(last, ("MODEL_VERSION_REGISTERED", "ci-a", "model-a"), ("SIGNING_KEY_REVOKED", "owner-a", ""))

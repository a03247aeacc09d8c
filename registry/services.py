"""Writes of the registry app. Every change records its audit entry in the same transaction."""

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core import signing as keys
from core.errors import PermissionDenied, UnknownField
from core.signing import KeyError_, UnsupportedKey, fingerprint, parse_public_key
from governance.choices import AuditEvent
from governance.errors import UnknownUser
from governance.gate.notify import notify_after_commit
from governance.services import audit_record
from hooks.events import ModelVersionRegistered
from hooks.manifest import ManifestError, validate_manifest
from registry.choices import EuAiActCategory, ModelPermission, ModelStatus, RiskTier, Stage
from registry.errors import (
    DigestMismatch,
    DuplicateArtifact,
    DuplicateModelName,
    DuplicateSigningKey,
    InvalidManifest,
    InvalidPublicKey,
    InvalidSignature,
    ManifestMismatch,
    ModelRetired,
    NotTeamMember,
    SigningKeyNotForTeam,
    SigningKeyRevoked,
    SigningKeyTampered,
    UnknownSigningKey,
    UnknownTeam,
    UnsupportedKeyAlgorithm,
)
from registry.lineage.services import lineage_link_model_version
from registry.models import ModelVersion, RegisteredModel, SigningKey
from registry.permissions import (
    grant_team_permissions,
    revoke_owner_permissions,
    revoke_team_permissions,
    user_has_model_perm,
)
from registry.signing import (
    SignatureProblem,
    countersign,
    inventory_record,
    inventory_statement,
    key_fingerprint_problem,
    verify_producer_signature,
)

logger = logging.getLogger(__name__)


# Inventory fields that may change after creation; each change is logged with old and new values.
UPDATABLE_FIELDS = (
    "display_name",
    "description",
    "owner",
    "team",
    "risk_tier",
    "eu_ai_act_category",
    "intended_use",
    "out_of_scope_use",
    "regulatory_scope",
    "status",
)


def _require(actor: Any, permission: ModelPermission, model: RegisteredModel) -> None:
    if not user_has_model_perm(actor, permission, model):
        raise PermissionDenied(
            f"You may not {permission.label.lower()} on model {model.name!r}.",
            extra={"model": model.name, "permission": permission.value},
        )


def _user_named(username: str) -> Any:
    try:
        return get_user_model().objects.get(username=username, is_active=True)
    except get_user_model().DoesNotExist:
        raise UnknownUser(f"No active user named {username!r}.", extra={"user": username}) from None


def _team_named(name: str) -> Group:
    try:
        return Group.objects.get(name=name)
    except Group.DoesNotExist:
        raise UnknownTeam(f"No team named {name!r}.", extra={"team": name}) from None


def _snapshot(model: RegisteredModel) -> dict[str, Any]:
    return {
        "display_name": model.display_name,
        "description": model.description,
        "owner": model.owner.get_username(),
        "team": model.team.name,
        "risk_tier": model.risk_tier,
        "eu_ai_act_category": model.eu_ai_act_category,
        "intended_use": model.intended_use,
        "out_of_scope_use": model.out_of_scope_use,
        "regulatory_scope": model.regulatory_scope,
        "status": model.status,
    }


def registered_model_create(
    *,
    actor: Any,
    name: str,
    team: str,
    risk_tier: RiskTier | str,
    owner: str | None = None,
    display_name: str = "",
    description: str = "",
    eu_ai_act_category: EuAiActCategory | str = EuAiActCategory.MINIMAL_RISK,
    intended_use: str = "",
    out_of_scope_use: str = "",
    regulatory_scope: list[str] | None = None,
) -> RegisteredModel:
    """Add a model to the inventory and give its team and owner their object permissions.

    The actor needs the global ``add_registeredmodel`` permission and, unless they may change every
    model (a compliance officer), must belong to the team they register for.
    """
    if not actor.has_perm("registry.add_registeredmodel"):
        raise PermissionDenied("You may not register models.", extra={"permission": "add_registeredmodel"})
    team_group = _team_named(team)
    if not actor.has_perm("registry.change_registeredmodel") and not actor.groups.filter(pk=team_group.pk).exists():
        raise NotTeamMember(f"You are not a member of team {team!r}.", extra={"team": team})
    owner_user = _user_named(owner) if owner else actor
    model = RegisteredModel(
        name=name,
        team=team_group,
        owner=owner_user,
        risk_tier=risk_tier,
        display_name=display_name,
        description=description,
        eu_ai_act_category=eu_ai_act_category,
        intended_use=intended_use,
        out_of_scope_use=out_of_scope_use,
        regulatory_scope=regulatory_scope or [],
        status=ModelStatus.ACTIVE,
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                model.save()
        except IntegrityError:
            raise DuplicateModelName(f"A model named {name!r} exists.", extra={"model": name}) from None
        grant_team_permissions(model)
        audit_record(
            actor=actor,
            event_type=AuditEvent.REGISTERED_MODEL_CREATED,
            subject=model,
            model_name=model.name,
            after={"name": model.name, **_snapshot(model)},
        )
    return model


def registered_model_update(*, actor: Any, model: RegisteredModel, changes: dict[str, Any]) -> RegisteredModel:
    """Change inventory metadata. ``owner`` and ``team`` are given by name. Logs old and new values
    of the fields that really changed; a request that changes nothing writes nothing."""
    _require(actor, ModelPermission.CHANGE, model)
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise UnknownField(f"These fields cannot be changed: {', '.join(unknown)}.", extra={"fields": unknown})
    resolved = dict(changes)
    if "owner" in resolved:
        resolved["owner"] = _user_named(resolved["owner"])
    if "team" in resolved:
        resolved["team"] = _team_named(resolved["team"])
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("owner", "team").get(pk=model.pk)
        before_all = _snapshot(locked)
        old_team, old_owner = locked.team, locked.owner
        for field, value in resolved.items():
            setattr(locked, field, value)
        after_all = _snapshot(locked)
        changed = [field for field in UPDATABLE_FIELDS if before_all[field] != after_all[field]]
        if not changed:
            return locked
        locked.save(update_fields=[*changed, "updated_at"])
        if "team" in changed:
            revoke_team_permissions(locked, old_team)
        if "owner" in changed:
            revoke_owner_permissions(locked, old_owner)
        if "team" in changed or "owner" in changed:
            grant_team_permissions(locked)
        audit_record(
            actor=actor,
            event_type=AuditEvent.REGISTERED_MODEL_UPDATED,
            subject=locked,
            model_name=locked.name,
            before={field: before_all[field] for field in changed},
            after={field: after_all[field] for field in changed},
        )
    return locked


def _intact_key(key: SigningKey, *, fingerprint_hex: str) -> None:
    """The stored key is the one registered under ``fingerprint_hex``, or SigningKeyTampered."""
    problem = key_fingerprint_problem(public_key_pem=key.public_key_pem, fingerprint=key.fingerprint)
    if problem is not None or key.fingerprint != fingerprint_hex:
        logger.error("signing key %s: %s", key.pk, problem or f"its fingerprint is not {fingerprint_hex}")
        raise SigningKeyTampered(
            "The stored signing key does not match its fingerprint; it cannot sign new registrations.",
            extra={"signing_key": fingerprint_hex},
        )


def _usable_key(key: SigningKey, *, fingerprint_hex: str, model: RegisteredModel, team_id: int) -> SigningKey:
    """``key`` if it may sign a new version of ``model``: it belongs to the model's team (``team_id``)
    and it is not revoked."""
    if key.team_id != team_id:
        team = model.team.name if team_id == model.team_id else Group.objects.get(pk=team_id).name
        raise SigningKeyNotForTeam(
            f"This key is not registered to team {team!r}, which owns model {model.name!r}.",
            extra={"signing_key": fingerprint_hex, "team": team},
        )
    if key.revoked_at is not None:
        raise SigningKeyRevoked(
            "This key was revoked and cannot sign new registrations.",
            extra={"signing_key": fingerprint_hex, "revoked_at": key.revoked_at.isoformat()},
        )
    return key


def _active_team_key(*, fingerprint_hex: str, model: RegisteredModel) -> SigningKey:
    key = SigningKey.objects.filter(fingerprint=fingerprint_hex).first()
    if key is None:
        raise UnknownSigningKey("No signing key has this fingerprint.", extra={"signing_key": fingerprint_hex})
    _intact_key(key, fingerprint_hex=fingerprint_hex)
    return _usable_key(key, fingerprint_hex=fingerprint_hex, model=model, team_id=model.team_id)


def _locked_team_key(*, key: SigningKey, model: RegisteredModel, team_id: int) -> SigningKey:
    """The key re-read under a row lock inside the registration's transaction (the caller holds the
    model's row lock and read its ``team_id`` under it): a revoke or a change of team that committed
    after the first check is seen here, and a revoke that comes later waits until the version is in.
    The signature was verified with ``key``'s public key, found intact: the locked row must still hold
    that key under that fingerprint (nothing to parse again)."""
    # FOR NO KEY UPDATE: conflicts with the revoke's FOR UPDATE, not with the version row's foreign-key check.
    locked = SigningKey.objects.select_for_update(no_key=True).get(pk=key.pk)
    if (locked.public_key_pem, locked.fingerprint) != (key.public_key_pem, key.fingerprint):
        logger.error("signing key %s: its public key changed during a registration", key.pk)
        raise SigningKeyTampered(
            "The stored signing key changed while the signature was being verified.",
            extra={"signing_key": key.fingerprint},
        )
    return _usable_key(locked, fingerprint_hex=key.fingerprint, model=model, team_id=team_id)


def model_version_register(
    *,
    actor: Any,
    model: RegisteredModel,
    artifact_uri: str,
    signature: dict[str, Any],
    signing_key: str,
    manifest: dict[str, Any] | None = None,
    artifact_digest: str | None = None,
    metrics: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    training_run_id: str = "",
) -> ModelVersion:
    """Register a new version of ``model`` from its producer-signed manifest.

    The signature (a DSSE envelope or an OMS Sigstore bundle) must verify with ``signing_key``, the
    fingerprint of an active key registered to the model's team; the manifest is the one it signs
    (a ``manifest`` or ``artifact_digest`` given beside it must agree). The service countersigns the
    record and logs the countersignature's hash. The version number is the next one for the model,
    with no gap or duplicate under concurrent registrations: the model row is locked meanwhile.
    """
    _require(actor, ModelPermission.REGISTER_VERSION, model)
    if model.status == ModelStatus.RETIRED:
        raise ModelRetired(f"Model {model.name!r} is retired.", extra={"model": model.name})
    if manifest is not None:
        try:
            given = validate_manifest(manifest)
        except ManifestError as exc:
            raise InvalidManifest(str(exc), extra={"path": exc.path}) from None
    key = _active_team_key(fingerprint_hex=signing_key, model=model)
    try:
        signed = verify_producer_signature(signature=signature, public_key_pem=key.public_key_pem)
    except SignatureProblem as exc:
        raise InvalidSignature(str(exc), extra={"reason": exc.reason, "signing_key": key.fingerprint}) from None
    if signed.subject_name != model.name:
        # The producer signs the model's name as the statement's subject: an envelope made for another
        # model is not evidence about this one, even over the same files.
        raise InvalidSignature(
            f"The signature was made for model {signed.subject_name!r}, not {model.name!r}.",
            extra={"reason": "subject_mismatch", "signing_key": key.fingerprint},
        )
    if manifest is not None and given != signed.resources:
        raise ManifestMismatch("The manifest is not the one the signature covers.")
    computed = signed.root_digest
    if artifact_digest is not None and artifact_digest != computed:
        raise DigestMismatch(
            "The artifact digest is not the manifest's root digest.",
            extra={"given": artifact_digest, "computed": computed},
        )
    stored_manifest = {**signed.predicate, "resources": signed.resources}
    with transaction.atomic():
        # The lock serialises version numbering per model; other models register in parallel. The team
        # is read under it: the key must belong to the model's team as it is now.
        locked_model = RegisteredModel.objects.select_for_update().filter(pk=model.pk)
        team_id = locked_model.values_list("team_id", flat=True).get()
        key = _locked_team_key(key=key, model=model, team_id=team_id)
        if ModelVersion.objects.filter(model=model, artifact_digest=computed).exists():
            raise DuplicateArtifact(
                f"This artifact is already registered for model {model.name!r}.",
                extra={"model": model.name, "artifact_digest": computed},
            )
        last = ModelVersion.objects.filter(model=model).aggregate(last=Max("version"))["last"] or 0
        created_at = timezone.now()
        record = inventory_record(
            model_name=model.name,
            version=last + 1,
            artifact_uri=artifact_uri,
            artifact_digest=computed,
            manifest=stored_manifest,
            producer_key=key.fingerprint,
            producer_signature=signature,
            training_run_id=training_run_id,
            metrics=metrics or {},
            parameters=parameters or {},
            created_by=actor.get_username(),
            created_at=created_at,
        )
        envelope, envelope_hash = countersign(
            inventory_statement(record, model_name=model.name, artifact_digest=computed)
        )
        version = ModelVersion.objects.create(
            model=model,
            version=last + 1,
            artifact_uri=artifact_uri,
            manifest=stored_manifest,
            artifact_digest=computed,
            metrics=metrics or {},
            parameters=parameters or {},
            training_run_id=training_run_id,
            producer_signature=signature,
            signing_key=key,
            countersignature=envelope,
            countersignature_sha256=envelope_hash,
            created_by=actor,
            created_at=created_at,
        )
        entry = audit_record(
            actor=actor,
            event_type=AuditEvent.MODEL_VERSION_REGISTERED,
            subject=version,
            model_name=model.name,
            after={**record, "resources": len(signed.resources), "countersignature_sha256": envelope_hash},
        )
        lineage_link_model_version(version=version)
        notify_after_commit(
            hook="modelgov_model_version_registered",
            event=ModelVersionRegistered(
                model=model.name,
                version=version.version,
                artifact_digest=computed,
                registered_by=actor.get_username(),
                audit_entry_id=entry.pk,
            ),
            subject=version,
        )
    return version


def _require_key_manager(actor: Any, team: Group, permission: str) -> None:
    if not actor.has_perm(f"registry.{permission}"):
        raise PermissionDenied("You may not manage signing keys.", extra={"permission": permission})
    if not actor.has_perm("registry.change_registeredmodel") and not actor.groups.filter(pk=team.pk).exists():
        raise NotTeamMember(f"You are not a member of team {team.name!r}.", extra={"team": team.name})


def signing_key_register(*, actor: Any, team: str, name: str, public_key_pem: str) -> SigningKey:
    """Register a producer's public key (ECDSA P-256 or Ed25519) to a team."""
    team_group = _team_named(team)
    _require_key_manager(actor, team_group, "add_signingkey")
    try:
        key, algorithm = parse_public_key(public_key_pem)
    except UnsupportedKey as exc:
        raise UnsupportedKeyAlgorithm(str(exc)) from None
    except KeyError_ as exc:
        raise InvalidPublicKey(str(exc)) from None
    key_fingerprint = fingerprint(key)
    with transaction.atomic():
        try:
            with transaction.atomic():
                signing_key = SigningKey.objects.create(
                    name=name,
                    team=team_group,
                    algorithm=algorithm,
                    public_key_pem=keys.public_key_pem(key),
                    fingerprint=key_fingerprint,
                    created_by=actor,
                )
        except IntegrityError:
            raise DuplicateSigningKey(
                "This public key is already registered.", extra={"signing_key": key_fingerprint}
            ) from None
        audit_record(
            actor=actor,
            event_type=AuditEvent.SIGNING_KEY_REGISTERED,
            subject=signing_key,
            after={"team": team_group.name, "name": name, "algorithm": algorithm, "fingerprint": key_fingerprint},
        )
    return signing_key


def signing_key_revoke(*, actor: Any, signing_key: SigningKey, reason: str) -> SigningKey:
    """Revoke a key: it signs no new registration. Revoking twice writes nothing more."""
    _require_key_manager(actor, signing_key.team, "change_signingkey")
    with transaction.atomic():
        locked = SigningKey.objects.select_for_update().select_related("team").get(pk=signing_key.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.revocation_reason = reason
        locked.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
        audit_record(
            actor=actor,
            event_type=AuditEvent.SIGNING_KEY_REVOKED,
            subject=locked,
            after={"team": locked.team.name, "fingerprint": locked.fingerprint, "reason": reason},
        )
    return locked


def model_version_promote(*, actor: Any, version: ModelVersion, stage: str) -> ModelVersion:
    """Move a version to a stage (called by the gate on an allow). Moving a version into production
    archives the version that was there; the change is logged with both stages."""
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().filter(pk=version.model_id).values_list("pk", flat=True).get()
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.stage == stage:
            return locked
        displaced = []
        if stage == Stage.PRODUCTION:
            for other in ModelVersion.objects.select_for_update().filter(model_id=version.model_id, stage=stage):
                other.stage = Stage.ARCHIVED
                other.save(update_fields=["stage"])
                displaced.append(other.version)
        before = locked.stage
        locked.stage = stage
        locked.save(update_fields=["stage"])
        audit_record(
            actor=actor,
            event_type=AuditEvent.MODEL_VERSION_PROMOTED,
            subject=locked,
            model_name=version.model.name,
            before={"stage": before},
            after={"stage": stage, "archived_versions": displaced, "artifact_digest": locked.artifact_digest},
        )
    return locked

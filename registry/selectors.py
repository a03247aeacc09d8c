"""Reads of the registry app."""

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Max, QuerySet
from django.db.models.expressions import RawSQL
from guardian.shortcuts import get_objects_for_user

from core import prepared, rawrows
from governance.choices import AuditEvent
from hooks import tlog
from hooks.manifest import ManifestError, root_digest, validate_manifest
from registry.choices import ModelPermission
from registry.errors import ModelNotFound, ModelVersionNotFound, SigningKeyNotFound
from registry.models import ModelVersion, RegisteredModel, SigningKey
from registry.permissions import model_perm_condition, perm_name, user_has_model_perm
from registry.signing import SignatureProblem, envelope_sha256, verify_countersignature, verify_producer_signature


def registered_model_list(*, user: Any) -> QuerySet[RegisteredModel]:
    """Models ``user`` may view (a role's global view permission or an object permission)."""
    queryset = get_objects_for_user(
        user,
        perm_name(ModelPermission.VIEW),
        klass=RegisteredModel,
        accept_global_perms=True,
    )
    if not user.is_active:
        # guardian's object-permission query ignores is_active; user_has_model_perm does not.
        queryset = queryset.none()
    return queryset.select_related("owner", "team").annotate(latest_version=Max("versions__version")).order_by("name")


def registered_model_get(*, name: str, user: Any, with_latest_version: bool = False) -> RegisteredModel:
    """The model called ``name`` if ``user`` may view it; otherwise not found (no existence leak).
    ``with_latest_version`` annotates the highest version number (the model's own representation)."""
    queryset = RegisteredModel.objects.select_related("owner", "team")
    if with_latest_version:
        queryset = queryset.annotate(latest_version=Max("versions__version"))
    try:
        model = queryset.get(name=name)
    except RegisteredModel.DoesNotExist:
        raise ModelNotFound(f"No model named {name!r}.", extra={"model": name}) from None
    if not user_has_model_perm(user, ModelPermission.VIEW, model):
        raise ModelNotFound(f"No model named {name!r}.", extra={"model": name})
    return model


def model_version_list(*, model: RegisteredModel) -> QuerySet[ModelVersion]:
    return (
        ModelVersion.objects.filter(model=model)
        .select_related("model", "created_by", "signing_key")
        .order_by("-version")
    )


def model_version_get(*, model: RegisteredModel, version: int) -> ModelVersion:
    try:
        found = ModelVersion.objects.select_related("created_by", "signing_key").get(model=model, version=version)
    except ModelVersion.DoesNotExist:
        raise ModelVersionNotFound(
            f"Model {model.name!r} has no version {version}.", extra={"model": model.name, "version": version}
        ) from None
    found.model = model
    return found


def model_version_get_for_user(*, name: str, version: int, user: Any) -> ModelVersion:
    """Version ``version`` of model ``name`` if ``user`` may view the model, in one query (the version,
    its model, creator and key, and the permission check); the errors of registered_model_get and
    model_version_get otherwise (a model the caller may not view is not found, whatever the version)."""
    if user.is_authenticated and user.is_active:
        queryset = ModelVersion.objects.select_related("model", "created_by", "signing_key").filter(
            model__name=name, version=version
        )
        if not user.is_superuser:
            condition, params = model_perm_condition(ModelPermission.VIEW, user, '"registry_modelversion"."model_id"')
            allowed = RawSQL(condition, params, output_field=BooleanField())  # noqa: S611 (fixed SQL, values as params)
            queryset = queryset.alias(allowed=allowed).filter(allowed=True)
        found = queryset.first()
        if found is not None:
            return found
    # Not found or not allowed: the same errors, in the same order, as the two-step lookup.
    return model_version_get(model=registered_model_get(name=name, user=user), version=version)


_VERSION_DATA_SQL = """
SELECT m.name, v.version, v.artifact_uri, v.artifact_digest, v.manifest, v.metrics, v.parameters,
       v.training_run_id, v.stage, k.fingerprint, v.producer_signature, v.countersignature,
       v.countersignature_sha256, u.username, v.created_at
FROM registry_modelversion v
JOIN registry_registeredmodel m ON m.id = v.model_id
JOIN registry_signingkey k ON k.id = v.signing_key_id
JOIN auth_user u ON u.id = v.created_by_id
WHERE m.name = %s AND v.version = %s AND {allowed}
"""


def model_version_for_gate(*, name: str, version: int, user: Any) -> tuple[ModelVersion, bool]:
    """The version (with its model and signing key) if ``user`` may view its model, and whether
    ``user`` may request its promotion: on PostgreSQL one fixed statement for all of it (the gate
    runs this on every decision); elsewhere, and for every error, the ORM path with the same answers."""
    if connection.vendor == "postgresql" and user.is_authenticated and user.is_active:
        view_params: list[Any] = []
        promote_params: list[Any] = []
        if user.is_superuser:
            view, promote = "TRUE", "TRUE"
        else:
            view, view_params = model_perm_condition(ModelPermission.VIEW, user, "m.id")
            promote, promote_params = model_perm_condition(ModelPermission.REQUEST_PROMOTION, user, "m.id")
        sql = (
            f"SELECT {rawrows.select_list(ModelVersion, 'v')}, {rawrows.select_list(RegisteredModel, 'm')}, "  # noqa: S608
            f"{rawrows.select_list(SigningKey, 'k')}, {promote} "
            "FROM registry_modelversion v JOIN registry_registeredmodel m ON m.id = v.model_id "
            "JOIN registry_signingkey k ON k.id = v.signing_key_id "
            f"WHERE m.name = %s AND v.version = %s AND {view}"
        )
        with connection.cursor() as cursor:
            prepared.execute(cursor, sql, [*promote_params, name, version, *view_params])
            row = cursor.fetchone()
        if row is not None:
            first, second = rawrows.width(ModelVersion), rawrows.width(ModelVersion) + rawrows.width(RegisteredModel)
            found = rawrows.instance(ModelVersion, row[:first])
            found.model = rawrows.instance(RegisteredModel, row[first:second])
            found.signing_key = rawrows.instance(SigningKey, row[second:-1])
            return found, bool(row[-1])
    found = model_version_get_for_user(name=name, version=version, user=user)
    return found, user_has_model_perm(user, ModelPermission.REQUEST_PROMOTION, found.model)


def model_version_data_for_user(*, name: str, version: int, user: Any) -> dict[str, Any]:
    """The API representation of a version (registry.api.serializers.model_version_data) if ``user``
    may view its model: on PostgreSQL one fixed statement, no ORM query to compile (the hottest read
    of the API); elsewhere, and for every error, the ORM path with the same answer and errors."""
    from registry.api.serializers import MODEL_VERSION_FIELDS, format_datetime, model_version_data

    if connection.vendor == "postgresql" and user.is_authenticated and user.is_active:
        allowed, params = (
            ("TRUE", []) if user.is_superuser else model_perm_condition(ModelPermission.VIEW, user, "m.id")
        )
        with connection.cursor() as cursor:
            prepared.execute(cursor, _VERSION_DATA_SQL.format(allowed=allowed), [name, version, *params])
            row = cursor.fetchone()
        if row is not None:
            data = dict(zip(MODEL_VERSION_FIELDS, row, strict=True))
            for key in ("manifest", "metrics", "parameters", "producer_signature", "countersignature"):
                value = data[key]  # Django has psycopg2 hand jsonb back as text, as JSONField expects
                data[key] = json.loads(value) if isinstance(value, str) else value
            data["created_at"] = format_datetime(data["created_at"])
            return data
    return model_version_data(model_version_get_for_user(name=name, version=version, user=user))


def signing_key_list(*, user: Any) -> QuerySet[SigningKey]:
    """Keys of the caller's teams; every key for those who may view every model."""
    queryset = SigningKey.objects.select_related("team", "created_by", "revoked_by").order_by("team__name", "name")
    if user.has_perm("registry.view_registeredmodel"):
        return queryset
    return queryset.filter(team__in=user.groups.all())


def signing_key_get(*, fingerprint: str, user: Any) -> SigningKey:
    key = signing_key_list(user=user).filter(fingerprint=fingerprint).first()
    if key is None:
        raise SigningKeyNotFound("No signing key with this fingerprint.", extra={"signing_key": fingerprint})
    return key


@dataclass(frozen=True)
class VerificationCheck:
    name: str
    ok: bool
    reason: str


def model_version_verify(*, version: ModelVersion) -> list[VerificationCheck]:
    """Re-verify a registered version from what is stored: the digest, the producer's signature,
    the producer key's state, and the service's countersignature against the logged hash."""
    checks: list[VerificationCheck] = []
    try:
        computed = root_digest(validate_manifest({"resources": version.manifest.get("resources")}))
        ok = computed == version.artifact_digest
        checks.append(VerificationCheck("digest", ok, "" if ok else f"the manifest's root digest is {computed}"))
    except ManifestError as exc:
        checks.append(VerificationCheck("digest", False, f"the stored manifest is not valid: {exc}"))
    key = version.signing_key
    try:
        signed = verify_producer_signature(signature=version.producer_signature, public_key_pem=key.public_key_pem)
        ok = (
            signed.root_digest == version.artifact_digest
            and signed.resources == version.manifest.get("resources")
            and signed.subject_name == version.model.name
        )
        checks.append(VerificationCheck("producer_signature", ok, "" if ok else "it signs another manifest"))
    except SignatureProblem as exc:
        checks.append(VerificationCheck("producer_signature", False, str(exc)))
    checks.append(
        VerificationCheck(
            "signing_key_active",
            key.revoked_at is None,
            "" if key.revoked_at is None else f"the key was revoked at {key.revoked_at.isoformat()}",
        )
    )
    checks.append(_countersignature_check(version))
    return checks


def _countersignature_check(version: ModelVersion) -> VerificationCheck:
    try:
        statement = verify_countersignature(version.countersignature)
    except (tlog.EnvelopeError, ValueError) as exc:
        return VerificationCheck("countersignature", False, f"the service signature does not verify: {exc}")
    subject = statement.get("subject", [{}])[0].get("digest", {}).get("sha256")
    record = statement.get("predicate", {})
    if f"sha256:{subject}" != version.artifact_digest or record.get("version") != version.version:
        return VerificationCheck("countersignature", False, "it signs another record")
    if record.get("model") != version.model.name:
        return VerificationCheck("countersignature", False, "it signs another model")
    if envelope_sha256(version.countersignature) != version.countersignature_sha256:
        return VerificationCheck("countersignature", False, "its hash is not the one recorded")
    with connection.cursor() as cursor:
        # A fixed statement (the gate runs this check on every decision); the same row as
        # AuditEntry.objects.filter(...).values_list("after").first().
        cursor.execute(
            "SELECT after FROM governance_auditentry WHERE event_type = %s AND subject_type = %s AND subject_id = %s "
            "ORDER BY id LIMIT 1",
            [AuditEvent.MODEL_VERSION_REGISTERED.value, ModelVersion._meta.label, str(version.pk)],
        )
        row = cursor.fetchone()
    logged = json.loads(row[0]) if row and isinstance(row[0], str) else (row[0] if row else None)
    if not logged or logged.get("countersignature_sha256") != version.countersignature_sha256:
        return VerificationCheck("countersignature", False, "its hash is not the one in the audit log")
    return VerificationCheck("countersignature", True, "")

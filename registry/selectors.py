"""Reads of the registry app."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max, QuerySet
from guardian.shortcuts import get_objects_for_user

from core import prepared, rawrows
from core.bounded import BoundedDict
from core.signing import KeyPurpose, service_public_key
from governance.audit.selectors import audit_entry_after
from governance.choices import AuditEvent
from hooks import tlog
from hooks.manifest import STATEMENT_TYPE, ManifestError, root_digest, validate_manifest
from registry.choices import ModelPermission
from registry.errors import ModelNotFound, ModelVersionNotFound, SigningKeyNotFound
from registry.models import ModelVersion, RegisteredModel, SigningKey
from registry.permissions import model_perm_condition, perm_name, user_has_model_perm
from registry.signing import (
    INVENTORY_PREDICATE_TYPE,
    SignatureProblem,
    envelope_sha256,
    inventory_record,
    inventory_subject,
    key_fingerprint_problem,
    verify_countersignature,
    verify_producer_signature,
)

User = get_user_model()


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
    """Version ``version`` of model ``name``, with its model, creator and signing key, if ``user`` may
    view the model; the errors of registered_model_get and model_version_get otherwise (a model the
    caller may not view is not found, whatever the version).

    The API's version read and every gate decision start here: on PostgreSQL it is one prepared
    statement (rows, joins and the permission check together; instances built as the ORM builds them).
    Elsewhere (the SQLite demo), and for every error, the two-step lookup answers."""
    if connection.vendor == "postgresql" and user.is_authenticated and user.is_active:
        allowed, params = (
            ("TRUE", []) if user.is_superuser else model_perm_condition(ModelPermission.VIEW, user, "m.id")
        )
        joined = ((ModelVersion, "v"), (RegisteredModel, "m"), (User, "u"), (SigningKey, "k"))
        sql = (
            f"SELECT {', '.join(rawrows.select_list(model, alias) for model, alias in joined)} "  # noqa: S608
            "FROM registry_modelversion v JOIN registry_registeredmodel m ON m.id = v.model_id "
            f"JOIN {User._meta.db_table} u ON u.id = v.created_by_id "
            "JOIN registry_signingkey k ON k.id = v.signing_key_id "
            f"WHERE m.name = %s AND v.version = %s AND {allowed}"
        )
        with connection.cursor() as cursor:
            prepared.execute(cursor, sql, [name, version, *params])
            row = cursor.fetchone()
        if row is not None:
            found, model, creator, key = rawrows.instances(joined, row)
            found.model, found.created_by, found.signing_key = model, creator, key
            return found
    return model_version_get(model=registered_model_get(name=name, user=user), version=version)


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


# The gate's memo of signature verifications: the checks that depend only on stored bytes and keys,
# by a digest of every value they read. Bounded; the oldest answer goes first.
_VERIFIED: BoundedDict[str, tuple[VerificationCheck, ...]] = BoundedDict(4096)


def model_version_verify(
    *,
    version: ModelVersion,
    logged_sha256: str | None = None,
    look_up_log: bool = True,
    reuse_verified: bool = False,
    signed_json: dict[str, str] | None = None,
) -> list[VerificationCheck]:
    """Re-verify a registered version from what is stored: the digest, the producer's signature (with
    the stored key, which must still have its registered fingerprint), the producer key's state, and
    the service's countersignature against the logged hash and against the inventory record rebuilt
    from the stored columns (each field that differs is named in the check's reason).

    The countersignature hash logged at registration is read from the audit log unless the caller
    read it already (``look_up_log=False`` and ``logged_sha256``: the gate reads it in its one query).
    ``reuse_verified`` (the gate): the digest and signature checks are pure functions of the stored
    record, signatures and keys, so their answer is kept, by a digest of all of those values,
    and reused while none of them changes. The key's state and the logged hash are read every time.
    ``signed_json``: the version's manifest and signatures as stored (JSON text), left deferred on
    ``version`` by the caller's read (the gate's): the digest is taken of that text, which is parsed
    only when the checks run."""
    if look_up_log:
        logged = audit_entry_after(event_type=AuditEvent.MODEL_VERSION_REGISTERED, subject=version)
        logged_sha256 = logged.get("countersignature_sha256") if logged else None
    key = version.signing_key
    pure = _pure_checks_reused(version, signed_json) if reuse_verified else _pure_checks(version)
    digest, producer, countersignature = pure
    if countersignature.ok and logged_sha256 != version.countersignature_sha256:
        countersignature = VerificationCheck("countersignature", False, "its hash is not the one in the audit log")
    revoked = key.revoked_at
    reason = "" if revoked is None else f"the key was revoked at {revoked.isoformat()}"
    active = VerificationCheck("signing_key_active", revoked is None, reason)
    return [digest, producer, active, countersignature]


# What the signature checks read as JSON and nothing else on the gate's path does, in a fixed order: the
# gate leaves these columns deferred on the version and hands over their stored text.
SIGNED_JSON_COLUMNS = ("manifest", "producer_signature", "countersignature")


def _pure_checks_reused(version: ModelVersion, signed_json: dict[str, str] | None) -> tuple[VerificationCheck, ...]:
    """The memo, keyed by a digest of the JSON text of the signed columns (as stored when the caller hands
    it over, parsed into ``version`` only on a miss; else serialised from ``version``) and of the other
    values the checks read, each part length-prefixed so that no two lists of parts digest alike. A text
    determines its value, so one key never stands for two different inputs."""
    texts = (
        signed_json
        if signed_json is not None
        else {
            name: json.dumps(getattr(version, name), sort_keys=True, separators=(",", ":"))
            for name in SIGNED_JSON_COLUMNS
        }
    )
    parts = [
        *(texts[name] for name in SIGNED_JSON_COLUMNS),
        version.artifact_digest,
        version.signing_key.public_key_pem,
        version.signing_key.fingerprint,
        version.model.name,
        str(version.version),
        version.countersignature_sha256,
        service_public_key(KeyPurpose.INVENTORY).public_bytes_raw().hex(),
        # The rest of the inventory record, compared with the countersigned one.
        version.artifact_uri,
        version.training_run_id,
        json.dumps(version.metrics, sort_keys=True, separators=(",", ":")),
        json.dumps(version.parameters, sort_keys=True, separators=(",", ":")),
        version.created_at.isoformat(),
    ]
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode()
        digest.update(b"%d:" % len(encoded))
        digest.update(encoded)
    memo_key = digest.hexdigest()
    found = _VERIFIED.get(memo_key)
    if found is None:
        if signed_json is not None:
            for name in SIGNED_JSON_COLUMNS:
                setattr(version, name, json.loads(signed_json[name]))
        found = _pure_checks(version)
        _VERIFIED.put_all([(memo_key, found)])
    return found


def _pure_checks(version: ModelVersion) -> tuple[VerificationCheck, ...]:
    """The digest, the producer's signature and the countersignature (not yet against the log)."""
    try:
        computed = root_digest(validate_manifest({"resources": version.manifest.get("resources")}))
        ok = computed == version.artifact_digest
        digest = VerificationCheck("digest", ok, "" if ok else f"the manifest's root digest is {computed}")
    except ManifestError as exc:
        digest = VerificationCheck("digest", False, f"the stored manifest is not valid: {exc}")
    return digest, _producer_signature_check(version), _countersignature_check(version)


def _producer_signature_check(version: ModelVersion) -> VerificationCheck:
    """The producer's envelope verifies with the stored key, and that key is the one registered: its
    public key has the fingerprint it was registered under. (A failure here fails the gate's
    signature check, which reads this check and the countersignature's.)"""
    key = version.signing_key
    problem = key_fingerprint_problem(public_key_pem=key.public_key_pem, fingerprint=key.fingerprint)
    if problem is not None:
        return VerificationCheck("producer_signature", False, problem)
    try:
        signed = verify_producer_signature(signature=version.producer_signature, public_key_pem=key.public_key_pem)
    except SignatureProblem as exc:
        return VerificationCheck("producer_signature", False, str(exc))
    ok = (
        signed.root_digest == version.artifact_digest
        and signed.resources == version.manifest.get("resources")
        and signed.subject_name == version.model.name
    )
    return VerificationCheck("producer_signature", ok, "" if ok else "it signs another manifest")


def _countersignature_check(version: ModelVersion) -> VerificationCheck:
    """The service's envelope verifies, it is the one whose hash was recorded, and the statement it signs
    is the version's inventory record as rebuilt from the stored columns, field by field."""
    try:
        statement = verify_countersignature(version.countersignature)
    except (tlog.EnvelopeError, ValueError) as exc:
        return VerificationCheck("countersignature", False, f"the service signature does not verify: {exc}")
    differing = _record_differences(version, statement)
    if differing:
        return VerificationCheck(
            "countersignature",
            False,
            f"it signs another record: the stored version differs in {', '.join(differing)}",
        )
    if envelope_sha256(version.countersignature) != version.countersignature_sha256:
        return VerificationCheck("countersignature", False, "its hash is not the one recorded")
    return VerificationCheck("countersignature", True, "")


def _record_differences(version: ModelVersion, statement: Any) -> list[str]:
    """The names of the parts of the countersigned statement that are not what the stored version
    gives: the statement's type, predicate type and subject, and each field of the record."""
    if not isinstance(statement, dict):
        return ["statement"]
    key = version.signing_key
    stored = {
        "_type": STATEMENT_TYPE,
        "predicateType": INVENTORY_PREDICATE_TYPE,
        "subject": inventory_subject(model_name=version.model.name, artifact_digest=version.artifact_digest),
    }
    differing = [name for name, value in stored.items() if not _same_json(statement.get(name), value)]
    signed = statement.get("predicate")
    if not isinstance(signed, dict):
        return [*differing, "predicate"]
    record = inventory_record(
        model_name=version.model.name,
        version=version.version,
        artifact_uri=version.artifact_uri,
        artifact_digest=version.artifact_digest,
        manifest=version.manifest,
        producer_key=key.fingerprint,
        producer_signature=version.producer_signature,
        training_run_id=version.training_run_id,
        metrics=version.metrics,
        parameters=version.parameters,
        created_by=version.created_by.get_username(),
        created_at=version.created_at,
    )
    for name in sorted(set(record) | set(signed)):
        if name in _LIVE_FIELDS:
            continue
        if name not in signed or name not in record or not _same_json(signed[name], record[name]):
            differing.append(name)
    return differing


# Record fields rebuilt from something that may legitimately change after registration: the creator's
# username is read from the user table (a rename is allowed); the creator's id is a stored column the
# version's trigger guards, and the registration's audit entry keeps the name as it was.
_LIVE_FIELDS = frozenset({"created_by"})


def _same_json(left: Any, right: Any) -> bool:
    """Equal as JSON values: ``true`` is not ``1`` (Python says it is), while ``1`` and ``1.0`` are the same
    number (PostgreSQL's jsonb may give back either for what was stored)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same_json(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same_json(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right

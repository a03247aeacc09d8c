"""Errors of the registry app; their codes are listed in docs/api-errors.md."""

from core.errors import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed


class ModelNotFound(NotFound):
    code = "model_not_found"


class ModelVersionNotFound(NotFound):
    code = "model_version_not_found"


class DuplicateModelName(Conflict):
    code = "duplicate_model_name"


class DuplicateArtifact(Conflict):
    code = "duplicate_artifact"


class InvalidManifest(ValidationFailed):
    code = "invalid_manifest"


class DigestMismatch(ValidationFailed):
    code = "digest_mismatch"


class UnknownTeam(ValidationFailed):
    code = "unknown_team"


class NotTeamMember(ValidationFailed):
    code = "not_team_member"


class ModelRetired(Conflict):
    code = "model_retired"


class InvalidSignature(ValidationFailed):
    code = "invalid_signature"


class ManifestMismatch(ValidationFailed):
    code = "manifest_mismatch"


class UnknownSigningKey(ValidationFailed):
    code = "unknown_signing_key"


class SigningKeyNotForTeam(ValidationFailed):
    code = "signing_key_not_for_team"


class SigningKeyRevoked(ValidationFailed):
    code = "signing_key_revoked"


class InvalidPublicKey(ValidationFailed):
    code = "invalid_public_key"


class UnsupportedKeyAlgorithm(ValidationFailed):
    code = "unsupported_key_algorithm"


class DuplicateSigningKey(Conflict):
    code = "duplicate_signing_key"


class SigningKeyNotFound(NotFound):
    code = "signing_key_not_found"


class NotKeyManager(PermissionDenied):
    code = "permission_denied"


class DeploymentRetired(Conflict):
    code = "deployment_retired"


class LineageNodeNotFound(NotFound):
    code = "lineage_node_not_found"


class DeploymentNotFound(NotFound):
    code = "deployment_not_found"


class SigningKeyTampered(ApplicationError):
    """The stored key is not what was registered: its public key does not have its fingerprint, or
    it changed while a registration was using it. The row was altered outside the service (the
    database trigger of migration 0007 refuses that), so the key signs nothing until someone looks."""

    code = "signing_key_tampered"
    status = 500

"""Model manifests in the OpenSSF model-signing (OMS v1.0) shape, without Django.

A manifest lists every file of a model as ``{"name", "algorithm", "digest"}`` (hex SHA-256). The
model's root digest is SHA-256 over the raw file digests concatenated in name order, as OMS computes
the in-toto subject digest; it is written ``sha256:<hex>``.
"""

import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from core.canonical import canonical_json
from hooks import tlog

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"

MAX_RESOURCES = 10_000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_RESOURCE_KEYS = {"name", "algorithm", "digest"}
_MANIFEST_KEYS = {"resources", "serialization"}


class ManifestError(ValueError):
    """The manifest is not well formed; ``path`` names the offending element."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise ManifestError("a resource name must be a non-empty string of at most 1024 characters", where)
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or "\x00" in name:
        raise ManifestError("a resource name must be a relative path inside the model", where)
    return name


def validate_manifest(manifest: Any) -> list[dict[str, str]]:
    """Check a manifest and return its resources sorted by name. Raises ManifestError."""
    if not isinstance(manifest, dict):
        raise ManifestError("the manifest must be a JSON object", "manifest")
    unknown = sorted(set(manifest) - _MANIFEST_KEYS)
    if unknown:
        raise ManifestError(f"unknown manifest keys: {', '.join(unknown)}", "manifest")
    resources = manifest.get("resources")
    if not isinstance(resources, list) or not resources:
        raise ManifestError("the manifest must list at least one resource", "manifest.resources")
    if len(resources) > MAX_RESOURCES:
        raise ManifestError(f"at most {MAX_RESOURCES} resources", "manifest.resources")
    seen: set[str] = set()
    cleaned: list[dict[str, str]] = []
    for index, resource in enumerate(resources):
        where = f"manifest.resources[{index}]"
        if not isinstance(resource, dict) or set(resource) != _RESOURCE_KEYS:
            raise ManifestError("a resource is an object with exactly name, algorithm and digest", where)
        name = _check_name(resource["name"], f"{where}.name")
        if name in seen:
            raise ManifestError(f"resource {name!r} is listed twice", f"{where}.name")
        seen.add(name)
        if resource["algorithm"] != "sha256":
            raise ManifestError("only sha256 resource digests are accepted", f"{where}.algorithm")
        digest = resource["digest"]
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise ManifestError("a digest is 64 lowercase hexadecimal characters", f"{where}.digest")
        cleaned.append({"name": name, "algorithm": "sha256", "digest": digest})
    return sorted(cleaned, key=lambda item: item["name"])


def root_digest(resources: list[dict[str, str]]) -> str:
    """``sha256:<hex>`` over the raw resource digests in name order."""
    hasher = hashlib.sha256()
    for resource in sorted(resources, key=lambda item: item["name"]):
        hasher.update(bytes.fromhex(resource["digest"]))
    return f"sha256:{hasher.hexdigest()}"


def manifest_of_directory(root: Path) -> dict[str, Any]:
    """Hash every regular file below ``root`` (symlinks are refused, as OMS does by default)."""
    resources = []
    for path in sorted(p for p in root.rglob("*") if not p.is_dir()):
        if path.is_symlink():
            raise ManifestError("symbolic links are not hashed", str(path.relative_to(root)))
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(chunk)
        resources.append(
            {"name": path.relative_to(root).as_posix(), "algorithm": "sha256", "digest": hasher.hexdigest()}
        )
    return {
        "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
        "resources": resources,
    }


def oms_statement(model_name: str, manifest: dict[str, Any]) -> bytes:
    """The in-toto Statement v1 a producer signs: subject = the root digest, predicate = the files."""
    resources = validate_manifest(manifest)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": root_digest(resources).removeprefix("sha256:")}}],
        "predicateType": OMS_PREDICATE_TYPE,
        "predicate": {**manifest, "resources": resources},
    }
    return canonical_json(statement)


def sign_manifest(
    *, model_name: str, manifest: dict[str, Any], private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
) -> dict[str, Any]:
    """The producer's DSSE envelope over :func:`oms_statement`, with an Ed25519 or ECDSA P-256 key."""
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keyid = hashlib.sha256(public_der).hexdigest()

    def sign(message: bytes) -> bytes:
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            return private_key.sign(message, ec.ECDSA(hashes.SHA256()))
        return private_key.sign(message)

    return tlog.dsse_sign(INTOTO_PAYLOAD_TYPE, oms_statement(model_name, manifest), sign, keyid)

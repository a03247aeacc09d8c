"""Signing primitives: the service's Ed25519 keys (one per purpose), public-key parsing and
fingerprints. Private keys are read from files named in settings; they never enter the database,
a log line or an API response."""

import base64
import hashlib
from enum import StrEnum
from functools import cache
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.conf import settings

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class KeyPurpose(StrEnum):
    """What a service key signs. Separate keys: a leaked gate key cannot forge log checkpoints."""

    LOG_CHECKPOINT = "log_checkpoint"
    INVENTORY = "inventory_countersignature"
    GATE_DECISION = "gate_decision"


class KeyError_(Exception):
    """A key is missing, unreadable or of a kind we do not accept."""


class UnsupportedKey(KeyError_):
    pass


def key_dir() -> Path:
    return Path(settings.MODELGOV["KEY_DIR"])


def generate_missing_keys(directory: Path | None = None) -> list[Path]:
    """Create an Ed25519 key for every purpose that has none (demo and first install)."""
    directory = directory or key_dir()
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    for purpose in KeyPurpose:
        path = Path(_key_file(str(directory), purpose))
        if path.exists():
            continue
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
        created.append(path)
    return created


@cache
def _load_private_key(path: str) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise KeyError_(f"cannot read the service key {Path(path).name}: {type(exc).__name__}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise UnsupportedKey(f"the service key {Path(path).name} must be Ed25519")
    return key


def service_private_key(purpose: KeyPurpose) -> ed25519.Ed25519PrivateKey:
    return _load_private_key(_service_key_file(purpose))


def _service_key_file(purpose: KeyPurpose) -> str:
    # By the setting's value, so a changed KEY_DIR (tests) is followed; the gate asks several times per decision.
    return _key_file(str(settings.MODELGOV["KEY_DIR"]), purpose)


@cache
def _key_file(directory: str, purpose: KeyPurpose) -> str:
    """Where the service key for ``purpose`` lives in ``directory``: the one naming rule."""
    return str(Path(directory) / f"{purpose.value}.pem")


def service_public_key(purpose: KeyPurpose) -> ed25519.Ed25519PublicKey:
    return _public_key(_service_key_file(purpose))


@cache
def _public_key(path: str) -> ed25519.Ed25519PublicKey:
    return _load_private_key(path).public_key()


def service_key_id(purpose: KeyPurpose) -> str:
    """The fingerprint of the service key for ``purpose`` (the DSSE keyid of what it signs)."""
    return _key_id(_service_key_file(purpose))


@cache
def _key_id(path: str) -> str:
    # Kept with the key it belongs to (both are cached by path): every gate decision signs with it.
    return fingerprint(_public_key(path))


def public_key_pem(key: PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def fingerprint(key: PublicKey) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, hex."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem: str) -> str:
    """The fingerprint of the PEM public key ``pem``, computed from the key itself. KeyError_ if it
    is not a key we accept."""
    key, _algorithm = parse_public_key(pem)
    return fingerprint(key)


def parse_public_key(pem: str) -> tuple[PublicKey, str]:
    """Parse a PEM public key and name its algorithm: ``ed25519`` or ``ecdsa-p256``.
    Any other key (RSA, another curve, a curve OpenSSL does not know) raises UnsupportedKey."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except UnsupportedAlgorithm as exc:
        # A well-formed key of an algorithm or curve OpenSSL cannot load (SM2, for one): not
        # a ValueError, and a key we would refuse anyway.
        raise UnsupportedKey(f"the key's algorithm is not accepted ({exc}); use ECDSA P-256 or Ed25519") from None
    except (ValueError, UnicodeEncodeError) as exc:
        raise KeyError_(f"not a PEM public key: {exc}") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key, "ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return key, "ecdsa-p256"
        raise UnsupportedKey(f"elliptic curve {key.curve.name} is not accepted; use P-256 or Ed25519")
    raise UnsupportedKey(f"{type(key).__name__.lstrip('_')} keys are not accepted; use ECDSA P-256 or Ed25519")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

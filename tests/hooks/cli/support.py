"""What the CLI tests share: the arguments of ``modelgov register`` for a one-file model and a fresh key."""

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def register_arguments(tmp_path: Path, model: str = "model-b") -> list[str]:
    """``register --model MODEL --path DIR --key KEY`` for a directory holding one file, signed with a
    new Ed25519 key (which no server knows)."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.bin").write_bytes(b"weights")
    key = tmp_path / "producer.pem"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ["register", "--model", model, "--path", str(model_dir), "--key", str(key)]

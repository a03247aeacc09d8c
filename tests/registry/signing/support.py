"""Keys the signing tests build by hand."""

import base64


def _der(tag: int, body: bytes) -> bytes:
    """One DER element (lengths below 128 bytes: all a key needs here)."""
    assert len(body) < 128
    return bytes([tag, len(body)]) + body


def sm2_public_key_pem() -> str:
    """A SubjectPublicKeyInfo for an EC key on SM2 (curve OID 1.2.156.10197.1.301), written by hand:
    cryptography cannot generate one, and OpenSSL's EC code does not know the curve. The point is the
    curve's generator (a valid point; the key is public)."""
    ec_public_key = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1
    sm2_curve = bytes.fromhex("2a811ccf5501822d")  # 1.2.156.10197.1.301
    x = bytes.fromhex("32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7")
    y = bytes.fromhex("bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0")
    algorithm = _der(0x30, _der(0x06, ec_public_key) + _der(0x06, sm2_curve))
    der = _der(0x30, algorithm + _der(0x03, b"\x00\x04" + x + y))
    body = base64.b64encode(der).decode("ascii")
    lines = [body[start : start + 64] for start in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----", ""])

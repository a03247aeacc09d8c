"""Fixtures of the transparency-log tests."""

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.contrib.auth.models import Group

from core.signing import KeyPurpose, service_public_key
from tests.factories import GroupFactory


@pytest.fixture
def log_key() -> Ed25519PublicKey:
    """The public key checkpoints are verified with (what a regulator pins)."""
    return service_public_key(KeyPurpose.LOG_CHECKPOINT)


@pytest.fixture
def subject(db: Any) -> Group:
    """Something for plain entries to be about."""
    return GroupFactory(name="audited-subject")

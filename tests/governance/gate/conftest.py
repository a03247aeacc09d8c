"""Fixtures of the gate tests: model-b (team b, low risk) approved for production by a validator
outside team b, and plugins registered on the process plugin manager for one test."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from governance.models import ApprovalRequest
from hooks.manager import get_plugin_manager
from tests.conftest import World
from tests.factories import approve_promotion


@pytest.fixture
def approved(world: World) -> ApprovalRequest:
    """model-b v1 approved for production: requested by ci-b, validated by the validator."""
    return approve_promotion(
        version=world.version_b1, stage="production", requester=world.ci_b, approvers=[world.validator]
    )


@pytest.fixture
def plugin() -> Iterator[Callable[[Any, str], Any]]:
    """``plugin(obj, name)`` registers ``obj`` on the process plugin manager until the test ends."""
    manager = get_plugin_manager()
    registered: list[Any] = []

    def register(obj: Any, name: str) -> Any:
        assert manager.register(obj, name=name) == name
        registered.append(obj)
        return obj

    yield register
    for obj in registered:
        manager.unregister(obj)

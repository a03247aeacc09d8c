"""Fixtures of the lineage tests: the world of tests/conftest.py plus two models whose versions the
recorded OpenLineage events in fixtures/openlineage/ refer to, and transactional tests (the live
server) that work with the append-only tables."""

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import pytest

from governance.choices import Role
from registry.models import ModelVersion, RegisteredModel
from tests.conftest import World, build_world, rows_for_the_module
from tests.factories import UserFactory, make_model, role

from .support import CHURN_RUN_ID, CREDIT_DIGEST, SPARK_RUN_ID, demo_manifest, register_demo_version


@dataclass
class LineageWorld(World):
    """The shared world plus credit-default-pd (team a, high risk) whose v1 carries the digest and
    training run of the recorded Spark event, churn-propensity (team b, low risk) whose v1 was trained
    by the recorded Airflow churn run, and a second validator."""

    credit: RegisteredModel
    credit_v1: ModelVersion
    churn: RegisteredModel
    churn_v1: ModelVersion
    validator2: Any


def build_lineage_world() -> LineageWorld:
    world = build_world()
    credit = make_model(owner=world.owner_a, team=world.team_a, name="credit-default-pd", risk_tier="high")
    credit_v1 = register_demo_version(
        model=credit, actor=world.ci_a, manifest=demo_manifest("credit-default-pd", 2), run_id=SPARK_RUN_ID
    )
    churn = make_model(owner=world.owner_b, team=world.team_b, name="churn-propensity", risk_tier="low")
    churn_v1 = register_demo_version(
        model=churn, actor=world.ci_b, manifest=demo_manifest("churn-propensity", 2), run_id=CHURN_RUN_ID
    )
    assert credit_v1.artifact_digest == CREDIT_DIGEST
    validator2 = UserFactory(username="validator-2", groups=[role(Role.VALIDATOR)])
    shared = {field.name: getattr(world, field.name) for field in fields(World)}
    return LineageWorld(
        **shared, credit=credit, credit_v1=credit_v1, churn=churn, churn_v1=churn_v1, validator2=validator2
    )


@pytest.fixture(scope="module")
def _module_world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[LineageWorld]:
    """Overrides tests/conftest.py's: the lineage modules share this bigger world (the ``world``
    fixture there copies it for each test)."""
    with rows_for_the_module(django_db_blocker, build_lineage_world) as built:
        yield built


# --- transactional tests (the live server) ---------------------------------------------------------------------

"""The inventory's invariants are database constraints, so no client can bypass them."""

import pytest
from django.db import IntegrityError, connection, transaction

from registry.models import RegisteredModel


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"name": "Bad Name"}, "registeredmodel_name_slug"),
        ({"name": "-leading"}, "registeredmodel_name_slug"),
        ({"name": "model-a"}, "registry_registeredmodel_name_key"),
        ({"risk_tier": "extreme"}, "registeredmodel_risk_tier_valid"),
        ({"status": "deleted"}, "registeredmodel_status_valid"),
    ],
)
def test_model_constraints_hold_against_raw_inserts(world, overrides, constraint):
    row = {
        "name": "raw-model",
        "display_name": "",
        "description": "",
        "owner_id": world.owner_a.pk,
        "team_id": world.team_a.pk,
        "risk_tier": "low",
        "eu_ai_act_category": "minimal_risk",
        "intended_use": "",
        "out_of_scope_use": "",
        "regulatory_scope": "[]",
        "status": "active",
        **overrides,
    }
    before = list(RegisteredModel.objects.order_by("pk").values())

    with pytest.raises(IntegrityError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO registry_registeredmodel ({', '.join(row)}, created_at, updated_at) "
            f"VALUES ({', '.join(['%s'] * len(row))}, now(), now())",
            list(row.values()),
        )

    assert raised.value.__cause__.diag.constraint_name == constraint
    assert list(RegisteredModel.objects.order_by("pk").values()) == before

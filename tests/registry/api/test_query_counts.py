"""Read endpoints cost a fixed number of queries whatever the number of rows (no N+1).

Counts include the bearer-token lookup (1) and the caller's global permissions (2); each client makes
one warm-up request first, so the once-a-minute last-used write is not counted.
"""

from typing import Any

import pytest

from governance.choices import Role
from tests.conftest import client_for
from tests.factories import GroupFactory, RegisteredModelFactory, UserFactory, make_version, role

# token, user permissions, group permissions, COUNT(*), page of rows
LIST_QUERIES = 5
# token, model, the permission check (one query: registry.permissions.user_has_model_perm), COUNT(*),
# page of rows
VERSIONS_QUERIES = {"officer": 5, "owner": 5, "ci": 5}


def inventory(models: int, versions: int = 2) -> dict[str, Any]:
    team = GroupFactory(name="qc-team")
    people = {
        "owner": UserFactory(username="qc-owner", groups=[role(Role.MODEL_OWNER), team]),
        "ci": UserFactory(username="qc-ci", groups=[role(Role.CI_PIPELINE), team]),
        "officer": UserFactory(username="qc-officer", groups=[role(Role.COMPLIANCE_OFFICER)]),
    }
    for index in range(models):
        model = RegisteredModelFactory(name=f"qc-{index:02d}", team=team, owner=people["owner"])
        for number in range(versions):
            make_version(model=model, actor=people["ci"], seed=f"qc-{index}-{number}")
    return people


@pytest.mark.parametrize("models", [1, 20])
def test_model_list_query_count_does_not_grow_with_rows(db, django_assert_num_queries, models):
    for who, person in inventory(models).items():
        client = client_for(person)
        client.get("/api/v1/models/")

        with django_assert_num_queries(LIST_QUERIES):
            response = client.get("/api/v1/models/")

        assert response.json()["count"] == models, who
        assert [item["latest_version"] for item in response.json()["results"]] == [2] * models


@pytest.mark.parametrize("versions", [1, 20])
def test_version_list_query_count_does_not_grow_with_rows(db, django_assert_num_queries, versions):
    for who, person in inventory(1, versions).items():
        client = client_for(person)
        client.get("/api/v1/models/qc-00/versions/")

        with django_assert_num_queries(VERSIONS_QUERIES[who]):
            response = client.get("/api/v1/models/qc-00/versions/")

        assert response.json()["count"] == versions
        assert [item["created_by"] for item in response.json()["results"]] == ["qc-ci"] * versions

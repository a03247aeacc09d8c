"""``manage.py seed_demo``: the demo inventory, loaded through the audited services, once."""

import json
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from governance.models import AuditEntry
from registry.models import ModelVersion, RegisteredModel
from tests.conftest import rows_for_the_module

FIXTURE = json.loads((Path(settings.BASE_DIR) / "fixtures" / "demo" / "inventory.json").read_text(encoding="utf-8"))


def seed():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker):
    with rows_for_the_module(django_db_blocker, seed) as output:
        yield output


@pytest.fixture
def seeded(_seeded_once, db):
    """The output of the first seed_demo run; its rows are there for every test of the module."""
    return _seeded_once


def table_counts():
    counts = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def created_counts(output):
    """{"users": 11, "tokens": 2, ...} from the command's one line of output."""
    prefix = "seed_demo: created "
    assert output.startswith(prefix) and output.endswith("\n") and output.count("\n") == 1, output
    counts = {}
    for part in output[len(prefix) : -1].split(", "):
        number, kind = part.split(" ", 1)
        counts[kind] = int(number)
    return counts


def test_seed_loads_the_demo_inventory(seeded):
    counts = created_counts(seeded)

    expected_versions = {spec["name"]: len(spec["versions"]) for spec in FIXTURE["models"]}
    assert {kind: counts[kind] for kind in ("users", "tokens", "models", "versions")} == {
        "users": len(FIXTURE["users"]),
        "tokens": len(FIXTURE["tokens"]),
        "models": len(expected_versions),
        "versions": sum(expected_versions.values()),
    }
    models = RegisteredModel.objects.all()
    assert len(models) >= 6
    assert {model.risk_tier for model in models} == {"high", "medium", "low"}
    assert dict(Counter(ModelVersion.objects.values_list("model__name", flat=True))) == expected_versions
    assert min(expected_versions.values()) >= 2
    for model in models:
        numbers = sorted(model.versions.values_list("version", flat=True))
        assert numbers == list(range(1, len(numbers) + 1))


def test_every_seeded_row_has_its_audit_entry(seeded):
    created = AuditEntry.objects.filter(event_type="REGISTERED_MODEL_CREATED")
    assert sorted(created.values_list("subject_id", flat=True)) == sorted(
        str(pk) for pk in RegisteredModel.objects.values_list("pk", flat=True)
    )
    registered = AuditEntry.objects.filter(event_type="MODEL_VERSION_REGISTERED")
    assert sorted(registered.values_list("subject_id", flat=True)) == sorted(
        str(pk) for pk in ModelVersion.objects.values_list("pk", flat=True)
    )
    for version in ModelVersion.objects.select_related("model", "created_by"):
        entry = registered.get(subject_id=str(version.pk))
        assert (entry.model_name, entry.actor_name) == (version.model.name, version.created_by.username)
        assert (entry.after["version"], entry.after["artifact_digest"]) == (version.version, version.artifact_digest)
    assert AuditEntry.objects.filter(event_type="API_TOKEN_CREATED").count() == len(FIXTURE["tokens"])


def test_running_twice_changes_nothing(seeded):
    counts = table_counts()
    last_entry = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    models = list(RegisteredModel.objects.order_by("pk").values())
    versions = list(ModelVersion.objects.order_by("pk").values())

    output = seed()

    second = created_counts(output)
    assert {"users", "tokens", "models", "versions"} <= set(second)
    assert second == dict.fromkeys(second, 0)
    assert table_counts() == counts
    assert AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() == last_entry
    assert list(RegisteredModel.objects.order_by("pk").values()) == models
    assert list(ModelVersion.objects.order_by("pk").values()) == versions


def test_demo_token_from_the_readme_works(seeded):
    officer = next(token for token in FIXTURE["tokens"] if token["user"] == "carla.compliance")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {officer['secret']}")

    response = client.get("/api/v1/models/credit-default-pd/versions/3")

    assert response.status_code == 200
    assert (response.json()["model"], response.json()["version"]) == ("credit-default-pd", 3)

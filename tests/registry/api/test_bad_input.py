"""Bad input to the inventory API: always a 4xx with its exact code, and nothing written."""

import json

import pytest

from governance.models import AuditEntry
from registry.models import ModelVersion, RegisteredModel
from tests.factories import make_manifest, version_payload
from tests.helpers import assert_audited, audit_entries_after, last_audit_id, nothing_written

CREATE = {"name": "model-new", "team": "team-a", "risk_tier": "low"}
HEX = "ab" * 32


def version_body(**changes):
    """A valid, signed registration body for model-a with ``changes`` applied."""
    signed = version_payload(model=RegisteredModel.objects.get(name="model-a"), manifest=make_manifest("bad-input"))
    return {**signed, "artifact_uri": "s3://x/new", **changes}


def assert_validation_error(response, field):
    assert response.status_code == 400, response.json()
    body = response.json()
    assert (body["code"], body["message"]) == ("validation_error", "The request is not valid.")
    assert list(body["extra"]["fields"]) == [field]
    assert body["extra"]["fields"][field]


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/api/v1/models/", "post", lambda: {**CREATE, "color": "red", "size": 3}),
        ("/api/v1/models/model-a/", "patch", lambda: {"display_name": "x", "color": "red", "size": 3}),
        ("/api/v1/models/model-a/versions/", "post", lambda: version_body(color="red", size=3)),
    ],
)
def test_unknown_fields_are_refused(world, api, path, method, body):
    client = api(world.officer if method == "patch" else world.owner_a)
    data = body()

    with nothing_written():
        response = getattr(client, method)(path, data, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_field",
        "message": "The request is not valid.",
        "extra": {"fields": {"unknown_fields": ["color", "size"]}},
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", ["model-x"], "This value does not match the required pattern."),
        ("name", None, "This field may not be null."),
        ("team", {"name": "team-a"}, "Not a valid string."),
        ("risk_tier", 5, '"5" is not a valid choice.'),
        ("risk_tier", "extreme", '"extreme" is not a valid choice.'),
        ("display_name", True, "Not a valid string."),
        ("description", [], "Not a valid string."),
        ("eu_ai_act_category", "banned", '"banned" is not a valid choice.'),
        ("regulatory_scope", "eu-ai-act", 'Expected a list of items but got type "str".'),
        ("owner", {}, "Not a valid string."),
        ("display_name", "x" * 201, "Ensure this field has no more than 200 characters."),
        ("display_name", "nul\x00here", "Null characters are not allowed."),
    ],
)
def test_create_with_a_wrong_type_names_the_field(world, api, field, value, message):
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", {**CREATE, "owner": "owner-a", field: value}, format="json")

    assert_validation_error(response, field)
    assert response.json()["extra"]["fields"][field] == [message]


def test_regulatory_scope_items_must_be_strings(world, api):
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", {**CREATE, "regulatory_scope": ["ok", {"x": 1}]}, format="json")

    assert_validation_error(response, "regulatory_scope")
    assert response.json()["extra"]["fields"]["regulatory_scope"] == {"1": ["Not a valid string."]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk_tier", "extreme"),
        ("status", "deleted"),
        ("owner", ["owner-b"]),
        ("regulatory_scope", {"a": 1}),
        ("intended_use", {"a": 1}),
    ],
)
def test_patch_with_a_wrong_type_names_the_field(world, api, field, value):
    client = api(world.owner_a)

    with nothing_written():
        response = client.patch("/api/v1/models/model-a/", {field: value}, format="json")

    assert_validation_error(response, field)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("metrics", [0.9], 'Expected a dictionary of items but got type "list".'),
        ("parameters", "depth=3", 'Expected a dictionary of items but got type "str".'),
        ("artifact_uri", None, "This field may not be null."),
        ("artifact_uri", "s3://" + "x" * 996, "Ensure this field has no more than 1000 characters."),
        ("training_run_id", ["run-1"], "Not a valid string."),
        ("artifact_digest", "sha256:XYZ", "This value does not match the required pattern."),
        ("metrics", {"note": "nul\x00"}, "Null characters are not allowed."),
        ("parameters", {"k\x00": 1}, "Null characters are not allowed."),
    ],
)
def test_version_with_a_wrong_type_names_the_field(world, api, field, value, message):
    client = api(world.ci_a)

    body = version_body(**{field: value})

    with nothing_written():
        response = client.post("/api/v1/models/model-a/versions/", body, format="json")

    assert_validation_error(response, field)
    assert response.json()["extra"]["fields"][field] == [message]


def test_version_without_signature_names_the_missing_fields(world, api):
    client = api(world.ci_a)

    with nothing_written():
        response = client.post(
            "/api/v1/models/model-a/versions/",
            {"artifact_uri": "s3://x", "manifest": make_manifest("x")},
            format="json",
        )

    assert response.status_code == 400
    assert response.json()["extra"] == {
        "fields": {"signature": ["This field is required."], "signing_key": ["This field is required."]}
    }


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            [{"name": "a.bin", "algorithm": "sha256", "digest": HEX}],
            'Expected a dictionary of items but got type "list".',
        ),
        ("not a manifest", 'Expected a dictionary of items but got type "str".'),
    ],
)
def test_manifest_that_is_not_an_object_is_a_validation_error(world, api, manifest, message):
    client = api(world.ci_a)
    body = version_body(manifest=manifest)

    with nothing_written():
        response = client.post("/api/v1/models/model-a/versions/", body, format="json")

    assert_validation_error(response, "manifest")
    assert response.json()["extra"]["fields"]["manifest"] == [message]


def test_manifest_with_a_nul_character_is_refused(world, api):
    manifest = {**make_manifest("nul"), "serialization": {"method": "files\x00"}}
    client = api(world.ci_a)

    body = version_body(manifest=manifest)

    with nothing_written():
        response = client.post("/api/v1/models/model-a/versions/", body, format="json")

    assert_validation_error(response, "manifest")


def test_metrics_nested_too_deeply_are_refused(world, api):
    deep: dict = {"leaf": 1}
    for _ in range(40):
        deep = {"d": deep}
    client = api(world.ci_a)

    body = version_body(metrics=deep)

    with nothing_written():
        response = client.post("/api/v1/models/model-a/versions/", body, format="json")

    assert_validation_error(response, "metrics")
    assert response.json()["extra"]["fields"]["metrics"] == ["Nested deeper than 32 levels."]


def test_body_that_is_not_an_object_is_a_validation_error(world, api):
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", [CREATE], format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": "The request is not valid.",
        "extra": {"fields": {"non_field_errors": ["Expected a JSON object."]}},
    }


def test_duplicate_model_name_is_a_conflict(world, api):
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", {**CREATE, "name": "model-a"}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "code": "duplicate_model_name",
        "message": "A model named 'model-a' exists.",
        "extra": {"model": "model-a"},
    }


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("Model-A", ["This value does not match the required pattern."]),
        ("my model", ["This value does not match the required pattern."]),
        ("-model", ["This value does not match the required pattern."]),
        ("model_a", ["This value does not match the required pattern."]),
        ("model.a", ["This value does not match the required pattern."]),
        ("modèle", ["This value does not match the required pattern."]),
        ("模型", ["This value does not match the required pattern."]),
        ("", ["This field may not be blank."]),
        (
            "a" * 101,
            ["Ensure this field has no more than 100 characters.", "This value does not match the required pattern."],
        ),
    ],
)
def test_invalid_slugs_are_refused(world, api, name, messages):
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", {**CREATE, "name": name}, format="json")

    assert_validation_error(response, "name")
    assert response.json()["extra"]["fields"]["name"] == messages


def test_longest_slug_is_accepted(world, api):
    name = "a" + "-b" * 49 + "9"  # 100 characters
    assert len(name) == 100
    client = api(world.officer)
    last = last_audit_id()

    response = client.post("/api/v1/models/", {**CREATE, "name": name}, format="json")

    assert response.status_code == 201
    assert RegisteredModel.objects.filter(name=name).count() == 1
    assert_audited(last, ("REGISTERED_MODEL_CREATED", "officer", name))


UNICODE = {
    "display_name": "Modèle de crédit — 信用評価 🚀",
    "description": "نموذج تقييم المخاطر\nZeilen\tmit Tab und «Anführungszeichen»",
    "intended_use": "e\u0301 (combining) vs \u00e9 (precomposed); 👩\u200d💻; \U0001f1ea\U0001f1fa",
    "out_of_scope_use": 'quotes " and \\ backslash and </script>',
    "regulatory_scope": ["EU AI Act — Art. 6", "日本"],
}


def test_unicode_free_text_round_trips_exactly(world, api):
    client = api(world.officer)
    last = last_audit_id()

    created = client.post("/api/v1/models/", {**CREATE, **UNICODE}, format="json")
    fetched = client.get("/api/v1/models/model-new/")

    assert created.status_code == 201, created.json()
    for field, value in UNICODE.items():
        assert created.json()[field] == value
        assert fetched.json()[field] == value
    stored = RegisteredModel.objects.values(*UNICODE).get(name="model-new")
    assert stored == UNICODE
    [entry] = audit_entries_after(last)
    assert {field: entry.after[field] for field in UNICODE} == UNICODE
    assert "信用評価 🚀".encode() in bytes(entry.entry_bytes)
    assert json.loads(bytes(entry.entry_bytes))["after"]["intended_use"] == UNICODE["intended_use"]


def test_unicode_patch_round_trips_exactly(world, api):
    client = api(world.owner_a)

    response = client.patch("/api/v1/models/model-a/", {"description": UNICODE["description"]}, format="json")

    assert response.status_code == 200
    assert RegisteredModel.objects.get(name="model-a").description == UNICODE["description"]
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.after == {"description": UNICODE["description"]}


SQLISH = {
    "display_name": "Robert'); DROP TABLE registry_registeredmodel;--",
    "description": "1' OR '1'='1",
    "intended_use": "$$; DELETE FROM governance_auditentry; $$",
    "out_of_scope_use": "\\x00'; TRUNCATE registry_modelversion CASCADE; --",
}


def test_sql_looking_strings_are_stored_verbatim_and_harmless(world, api):
    client = api(world.officer)
    versions_before = ModelVersion.objects.count()
    last = last_audit_id()

    response = client.post("/api/v1/models/", {**CREATE, **SQLISH}, format="json")

    assert response.status_code == 201, response.json()
    assert RegisteredModel.objects.values(*SQLISH).get(name="model-new") == SQLISH
    assert RegisteredModel.objects.count() == 3
    assert ModelVersion.objects.count() == versions_before
    [entry] = assert_audited(last, ("REGISTERED_MODEL_CREATED", "officer", "model-new"))
    assert {field: entry.after[field] for field in SQLISH} == SQLISH
    found = client.get("/api/v1/models/", {"search": SQLISH["display_name"]})
    assert [item["name"] for item in found.json()["results"]] == ["model-new"]
    by_owner = client.get("/api/v1/models/", {"owner": "x' OR '1'='1"})
    assert (by_owner.status_code, by_owner.json()["count"]) == (200, 0)


def test_sql_looking_model_name_in_the_path_is_not_found(world, api):
    response = api(world.officer).get("/api/v1/models/model-a'%20OR%20'1'='1/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("manifest", "path"),
    [
        (
            {"resources": [{"name": "../etc/passwd", "algorithm": "sha256", "digest": HEX}]},
            "manifest.resources[0].name",
        ),
        ({"resources": [{"name": "/etc/passwd", "algorithm": "sha256", "digest": HEX}]}, "manifest.resources[0].name"),
        (
            {"resources": [{"name": "weights/../../x", "algorithm": "sha256", "digest": HEX}]},
            "manifest.resources[0].name",
        ),
        ({"resources": [{"name": "a\\b.bin", "algorithm": "sha256", "digest": HEX}]}, "manifest.resources[0].name"),
        ({"resources": [{"name": "", "algorithm": "sha256", "digest": HEX}]}, "manifest.resources[0].name"),
        ({"resources": [{"name": 5, "algorithm": "sha256", "digest": HEX}]}, "manifest.resources[0].name"),
        (
            {
                "resources": [
                    {"name": "model.bin", "algorithm": "sha256", "digest": HEX},
                    {"name": "model.bin", "algorithm": "sha256", "digest": "cd" * 32},
                ]
            },
            "manifest.resources[1].name",
        ),
        ({"resources": [{"name": "a.bin", "algorithm": "sha256", "digest": "xyz"}]}, "manifest.resources[0].digest"),
        (
            {"resources": [{"name": "a.bin", "algorithm": "sha256", "digest": HEX.upper()}]},
            "manifest.resources[0].digest",
        ),
        ({"resources": [{"name": "a.bin", "algorithm": "sha256", "digest": 1}]}, "manifest.resources[0].digest"),
        (
            {"resources": [{"name": "a.bin", "algorithm": "md5", "digest": "d41d8cd98f00b204e9800998ecf8427e"}]},
            "manifest.resources[0].algorithm",
        ),
        ({"resources": [{"name": "a.bin", "digest": HEX}]}, "manifest.resources[0]"),
        ({"resources": [{"name": "a.bin", "algorithm": "sha256", "digest": HEX, "size": 1}]}, "manifest.resources[0]"),
        ({"resources": ["a.bin"]}, "manifest.resources[0]"),
        ({"resources": []}, "manifest.resources"),
        ({"resources": "a.bin"}, "manifest.resources"),
        ({}, "manifest.resources"),
        ({"resources": [{"name": "a.bin", "algorithm": "sha256", "digest": HEX}], "signature": "x"}, "manifest"),
    ],
)
def test_invalid_manifest_names_the_offending_element(world, api, manifest, path):
    client = api(world.ci_a)

    body = version_body(manifest=manifest)

    with nothing_written():
        response = client.post("/api/v1/models/model-a/versions/", body, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_manifest"
    assert response.json()["extra"] == {"path": path}


def test_manifest_error_message_says_what_is_wrong(world, api):
    manifest = {"resources": [{"name": "../etc/passwd", "algorithm": "sha256", "digest": HEX}]}

    response = api(world.ci_a).post("/api/v1/models/model-a/versions/", version_body(manifest=manifest), format="json")

    assert response.json() == {
        "code": "invalid_manifest",
        "message": "a resource name must be a relative path inside the model",
        "extra": {"path": "manifest.resources[0].name"},
    }

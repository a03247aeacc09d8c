"""``modelgov register`` → approval → ``modelgov gate --promote`` → ``modelgov verify-decision``, the
real command against a live server on loopback; then the ways the gate says no (a changed file, a
revoked key, a bad token)."""

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from core.signing import public_key_pem
from governance.models import AuditEntry, AuditLeaf, GateDecision
from governance.services import api_token_create
from hooks.manifest import manifest_of_directory, root_digest, validate_manifest
from registry.models import ModelVersion
from registry.services import signing_key_register, signing_key_revoke
from registry.signing import envelope_sha256
from tests.factories import approve_promotion, seed_admin

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ALLOW = re.compile(r"^modelgov gate: ALLOW \(decision (?P<id>[0-9a-f-]{36}), audit seq (?P<seq>[0-9]+)\)$")


def write_model(root: Path) -> Path:
    root.mkdir()
    (root / "model.onnx").write_bytes(b"\x08\x07onnx-weights" * 64)
    (root / "config.json").write_text('{"threshold": 0.42}', encoding="utf-8")
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    return root


def write_producer_key(path: Path) -> ed25519.Ed25519PrivateKey:
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key


def audit(event_type: str, subject_id: str) -> list[tuple[str, str, dict | None, dict | None]]:
    return [
        (entry.actor_name, entry.model_name, entry.before, entry.after)
        for entry in AuditEntry.objects.filter(event_type=event_type, subject_id=subject_id).order_by("id")
    ]


def test_register_approve_gate_promote_and_verify(world, live_server, transactional_db, cli, gate_pub, tmp_path):
    model_dir = write_model(tmp_path / "model")
    key_file = tmp_path / "producer.pem"
    producer = write_producer_key(key_file)
    signing_key = signing_key_register(
        actor=seed_admin(), team="team-b", name="ci-b producer", public_key_pem=public_key_pem(producer.public_key())
    )
    token = api_token_create(actor=None, user=world.ci_b, name="pipeline", expires_at=None).secret
    url = live_server.url
    run_id = str(uuid.uuid4())
    digest = root_digest(validate_manifest(manifest_of_directory(model_dir)))

    # 1. register: the CLI hashes the directory, signs the manifest and registers version 2.
    register_args = f"register --model model-b --path {model_dir} --key {key_file} --run-id {run_id}".split()
    registered = cli(*register_args, url=url, token=token)

    assert (registered.code, registered.err) == (0, "")
    assert json.loads(registered.out) == {"model": "model-b", "version": 2, "artifact_digest": digest}
    version = ModelVersion.objects.get(model=world.model_b, version=2)
    assert (version.artifact_digest, version.signing_key_id, version.training_run_id) == (
        digest,
        signing_key.pk,
        run_id,
    )
    [(actor, model_name, before, after)] = audit("MODEL_VERSION_REGISTERED", str(version.pk))
    assert (actor, model_name, before, after["version"], after["artifact_digest"]) == (
        "ci-b",
        "model-b",
        None,
        2,
        digest,
    )
    assert after["producer_key"] == signing_key.fingerprint

    # 2. request and approve: low risk, one validator outside team b.
    approve_promotion(version=version, stage="production", requester=world.ci_b, approvers=[world.validator])

    # 3. gate with --promote: a verified allow, the version moves to production.
    decision_file = tmp_path / "decision.json"
    # (pytest's tmp_path has no spaces, so splitting on spaces keeps every path whole.)
    gate_args = f"gate --model model-b --version 2 --stage production --path {model_dir} --gate-key {gate_pub}".split()
    gated = cli(*gate_args, "--promote", "--save-decision", str(decision_file), url=url, token=token)

    assert gated.code == 0, gated.err
    allow = ALLOW.match(gated.err.strip())
    assert allow is not None, gated.err
    assert gated.out.splitlines() == [
        "check               outcome  reason",
        "signature_valid     pass     ok",
        "digest_matches      pass     ok",
        "signing_key_active  pass     ok",
        "approvals_complete  pass     ok",
        f"decision: allow  (id {allow['id']}, seq {allow['seq']})",
    ]
    version.refresh_from_db()
    assert version.stage == "production"
    row = GateDecision.objects.get(pk=allow["id"])
    assert (row.decision, row.promoted, row.requested_digest, row.created_by_id) == (
        "allow",
        True,
        digest,
        world.ci_b.pk,
    )
    envelope = json.loads(decision_file.read_text(encoding="utf-8"))
    assert envelope == row.envelope
    # Signed with the decision: the request's flags and the fresh nonce the CLI sent (and checked).
    predicate = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    assert (predicate["dry_run"], predicate["promote"]) == (False, True)
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", predicate["nonce"])
    [(actor, model_name, before, after)] = audit("GATE_DECIDED", allow["id"])
    assert (actor, model_name, before, after["decision"], after["failed_checks"]) == (
        "ci-b",
        "model-b",
        None,
        "allow",
        [],
    )
    assert after["envelope_sha256"] == envelope_sha256(envelope)
    assert after["pipeline"] == {"system": "shell", "run_id": "", "url": "", "commit": "", "metadata": {}}
    entry = AuditEntry.objects.get(event_type="GATE_DECIDED", subject_id=allow["id"])
    assert AuditLeaf.objects.get(entry=entry).seq == int(allow["seq"])
    assert audit("MODEL_VERSION_PROMOTED", str(version.pk)) == [
        (
            "ci-b",
            "model-b",
            {"stage": "none"},
            {"stage": "production", "archived_versions": [], "artifact_digest": digest},
        )
    ]

    # 4. verify the saved decision offline with the pinned key.
    verified = cli(
        "verify-decision", str(decision_file), "--key", str(gate_pub), "--digest", digest, url=url, token=None
    )

    assert (verified.code, verified.err) == (0, "")
    assert verified.out == (f"verified: allow for model-b v2 → production ({digest}, decision {allow['id']})\n")

    # A decision file changed after the fact does not verify: here the stage was rewritten.
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["target_stage"] = "staging"
    forged_file = tmp_path / "forged.json"
    forged = {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    forged_file.write_text(json.dumps(forged), encoding="utf-8")

    forged_check = cli("verify-decision", str(forged_file), "--key", str(gate_pub), url=url, token=None)

    assert forged_check.code == 1
    assert forged_check.out.startswith("INVALID: the decision envelope does not verify: ")

    # 5. --json prints the whole answer as JSON.
    as_json = cli(*gate_args, "--json", url=url, token=token)

    assert as_json.code == 0, as_json.err
    answer = json.loads(as_json.out)
    assert (answer["decision"], answer["promoted"], [check["outcome"] for check in answer["checks"]]) == (
        "allow",
        False,  # already in production: nothing asked to move it
        ["pass"] * 4,
    )

    # 6. one file changed after approval: the digest no longer matches, exit 1.
    weights = model_dir / "model.onnx"
    original = weights.read_bytes()
    weights.write_bytes(original + b"\x00")
    changed = root_digest(validate_manifest(manifest_of_directory(model_dir)))

    tampered = cli(*gate_args, url=url, token=token)

    assert tampered.code == 1
    assert "digest_matches      fail     digest_mismatch" in tampered.out.splitlines()
    assert tampered.err.startswith("modelgov gate: DENY (decision ")
    denied = GateDecision.objects.get(requested_digest=changed)
    assert (denied.decision, denied.promoted) == ("deny", False)
    assert audit("GATE_DECIDED", str(denied.pk))[0][3]["failed_checks"] == ["digest_matches"]
    weights.write_bytes(original)

    # 7. the producer key is revoked: exit 1.
    signing_key_revoke(actor=seed_admin(), signing_key=signing_key, reason="key leaked in a build log")

    revoked = cli(*gate_args, url=url, token=token)

    assert revoked.code == 1
    assert "signing_key_active  fail     signing_key_revoked" in revoked.out.splitlines()
    assert "ALLOW" not in revoked.out + revoked.err

    # 8. a bad token: the server refuses, exit 2, and nothing is written.
    before = (list(GateDecision.objects.values_list("pk", flat=True)), list(AuditEntry.objects.values_list("pk")))

    refused = cli(*gate_args, url=url, token="mg_not-a-real-token")

    assert (refused.code, refused.out) == (2, "")
    assert refused.err == "modelgov gate: the server refused: 401 token_invalid: Unknown token.\n"
    assert (
        list(GateDecision.objects.values_list("pk", flat=True)),
        list(AuditEntry.objects.values_list("pk")),
    ) == before

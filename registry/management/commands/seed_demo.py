"""``manage.py seed_demo``: load fixtures/demo/inventory.json through the services (so every row is
audited). Running it again changes nothing: what exists already is left as it is."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.signing import fingerprint, public_key_pem
from governance.approvals.services import approval_request_create, approval_request_decide
from governance.models import ApiToken, ApprovalRequest
from governance.services import api_token_create, hash_token
from hooks.manifest import root_digest, sign_manifest, validate_manifest
from registry.lineage.services import deployment_record, lineage_event_ingest
from registry.models import Deployment, ModelVersion, RegisteredModel, SigningKey
from registry.services import model_version_register, registered_model_create, signing_key_register

DEFAULT_FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo" / "inventory.json"


class Command(BaseCommand):
    help = "Load the demo inventory (users, teams, tokens, models, versions) through the services."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)

    def handle(self, *args: Any, **options: Any) -> None:
        data = json.loads(options["fixture"].read_text(encoding="utf-8"))
        created = {"users": 0, "tokens": 0, "models": 0, "versions": 0}
        self.keys_created = 0
        for team in data["teams"]:
            Group.objects.get_or_create(name=team)
        users = {spec["username"]: self._user(spec, data["password"], created) for spec in data["users"]}
        for spec in data["tokens"]:
            if not ApiToken.objects.filter(key_hash=hash_token(spec["secret"])).exists():
                api_token_create(
                    actor=None,
                    user=users[spec["user"]],
                    name=spec["name"],
                    expires_at=None,
                    secret=spec["secret"],
                )
                created["tokens"] += 1
        team_keys = {spec["team"]: self._signing_key(spec, users) for spec in data["signing_keys"]}
        admin = users[next(spec["username"] for spec in data["users"] if spec.get("superuser"))]
        for spec in data["models"]:
            model = RegisteredModel.objects.filter(name=spec["name"]).first()
            if model is None:
                model = registered_model_create(
                    actor=admin,
                    name=spec["name"],
                    team=spec["team"],
                    owner=spec["owner"],
                    risk_tier=spec["risk_tier"],
                    display_name=spec["display_name"],
                    description=spec["description"],
                    eu_ai_act_category=spec["eu_ai_act_category"],
                    intended_use=spec["intended_use"],
                    out_of_scope_use=spec["out_of_scope_use"],
                    regulatory_scope=spec["regulatory_scope"],
                )
                created["models"] += 1
            registrar = users[spec["registered_by"]]
            known = set(ModelVersion.objects.filter(model=model).values_list("artifact_digest", flat=True))
            for version in spec["versions"]:
                if root_digest(validate_manifest(version["manifest"])) in known:
                    continue
                private_key, key_fingerprint = team_keys[spec["team"]]
                model_version_register(
                    actor=registrar,
                    model=model,
                    artifact_uri=version["artifact_uri"],
                    signature=sign_manifest(
                        model_name=model.name, manifest=version["manifest"], private_key=private_key
                    ),
                    signing_key=key_fingerprint,
                    metrics=version["metrics"],
                    parameters=version["parameters"],
                    training_run_id=version["training_run_id"],
                )
                created["versions"] += 1
        created["signing keys"] = self.keys_created
        created["lineage events"] = self._lineage(admin)
        created["approval requests"] = self._approvals(data.get("approvals", []), users)
        created["deployments"] = self._deployments(data.get("deployments", []), users)
        summary = ", ".join(f"{count} {kind}" for kind, count in created.items())
        self.stdout.write(f"seed_demo: created {summary}")

    def _user(self, spec: dict[str, Any], password: str, created: dict[str, int]) -> Any:
        user_model = get_user_model()
        user = user_model.objects.filter(username=spec["username"]).first()
        if user is None:
            user = user_model.objects.create_user(
                username=spec["username"],
                email=spec["email"],
                password=password,
                is_staff=bool(spec.get("superuser")) or bool(spec["roles"]),
                is_superuser=bool(spec.get("superuser")),
            )
            created["users"] += 1
        for name in [*spec["roles"], *spec["teams"]]:
            user.groups.add(Group.objects.get(name=name))
        return user

    def _signing_key(self, spec: dict[str, Any], users: dict[str, Any]) -> tuple[Any, str]:
        private_key = serialization.load_pem_private_key(spec["private_key_pem"].encode("ascii"), password=None)
        if not isinstance(private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise CommandError(f"demo key {spec['name']!r} must be Ed25519 or ECDSA P-256")
        key_fingerprint = fingerprint(private_key.public_key())
        if not SigningKey.objects.filter(fingerprint=key_fingerprint).exists():
            signing_key_register(
                actor=users[spec["registered_by"]],
                team=spec["team"],
                name=spec["name"],
                public_key_pem=public_key_pem(private_key.public_key()),
            )
            self.keys_created += 1
        return private_key, key_fingerprint

    def _approvals(self, specs: list[dict[str, Any]], users: dict[str, Any]) -> int:
        created = 0
        for spec in specs:
            version = ModelVersion.objects.select_related("model").get(
                model__name=spec["model"], version=spec["version"]
            )
            if ApprovalRequest.objects.filter(model_version=version, target_stage=spec["stage"]).exists():
                continue
            request = approval_request_create(
                actor=users[spec["requester"]],
                model_version=version,
                target_stage=spec["stage"],
                comment=spec["comment"],
            )
            for decision in spec["decisions"]:
                due = decision.get("due_in_days")
                approval_request_decide(
                    actor=users[decision["by"]],
                    request=request,
                    decision=decision["decision"],
                    comment=decision["comment"],
                    conditions=decision.get("conditions", ""),
                    due_date=(timezone.now() + timedelta(days=due)).date() if due else None,
                )
                request.refresh_from_db()
            created += 1
        return created

    def _lineage(self, actor: Any) -> int:
        created = 0
        for path in sorted((Path(settings.BASE_DIR) / "fixtures" / "openlineage").glob("*.json")):
            _, new = lineage_event_ingest(actor=actor, payload=json.loads(path.read_text(encoding="utf-8")))
            created += int(new)
        return created

    def _deployments(self, specs: list[dict[str, Any]], users: dict[str, Any]) -> int:
        created = 0
        for spec in specs:
            version = ModelVersion.objects.select_related("model").get(
                model__name=spec["model"], version=spec["version"]
            )
            if Deployment.objects.filter(model_version=version, environment=spec["environment"]).exists():
                continue
            deployment_record(
                actor=users[spec["by"]], version=version, environment=spec["environment"], endpoint=spec["endpoint"]
            )
            created += 1
        return created

"""The Django side of bench/gate.py: the inventory, the approvals, the gate's request bodies, the checks
that the load left the inventory unchanged, and the in-process profile of gate requests. Import it only
after ``django.setup()``.

Through the application's services: the producer keys (``signing_key_register``), the first model of
every team (``registered_model_create``) with all its versions (``model_version_register``), every
approval (``approval_request_create`` + ``approval_request_decide``) and the CI token
(``api_token_create``). The other models and versions are bulk-inserted as the rows those services
write, computed with the same functions (``sign_manifest``, ``verify_producer_signature``,
``inventory_statement``, ``countersign``, canonical JSON and leaf hashes as ``audit_record`` makes them,
object permissions copied from the team's service-created model); ``bulk_equivalence_check`` rebuilds a
service-registered model and version with the bulk builders and requires the same bytes. The audit
entries of the bulk rows are queued and integrated by the application's ``audit_log_integrate``.
"""

import cProfile
import hashlib
import json
import os
import pstats
import random
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

from core.canonical import canonical_json
from core.signing import fingerprint, public_key_pem
from governance.approvals.services import approval_request_create, approval_request_decide
from governance.audit.services import audit_log_integrate
from governance.choices import ApprovalState, AuditEvent, Role
from governance.models import AuditCheckpoint, AuditEntry, AuditPending, GateDecision
from governance.services import api_token_create
from hooks import tlog
from hooks.manifest import sign_manifest
from registry.choices import EuAiActCategory, LineageKind, ModelPermission, ModelStatus, RiskTier, Stage
from registry.models import LineageNode, ModelVersion, RegisteredModel, SigningKey
from registry.permissions import user_has_model_perm
from registry.selectors import model_version_verify
from registry.services import _snapshot, model_version_register, registered_model_create, signing_key_register
from registry.signing import countersign, envelope_sha256, inventory_statement, verify_producer_signature

REPO_ROOT = Path(__file__).resolve().parent.parent
GATE_PATH = "/api/v1/gate/promotions"
TARGET_STAGE = str(Stage.PRODUCTION)
CI_USERNAME = "bench-ci"
BULK_CHUNK_MODELS = 100  # models (and their versions) per bulk transaction
DENY_TARGETS = 1000  # distinct unapproved versions the deny half of the load asks about


@dataclass(frozen=True)
class InventoryPlan:
    teams: int
    models: int
    versions_per_model: int
    approvals: int
    validators: int = 5
    service_models_per_team: int = 1  # the first model(s) of each team go entirely through the services

    @property
    def versions(self) -> int:
        return self.models * self.versions_per_model


@dataclass(frozen=True)
class GateTarget:
    model: str
    version: int
    artifact_digest: str


@dataclass
class LoadReport:
    service_models: int = 0
    service_model_seconds: float = 0.0
    service_versions: int = 0
    service_version_seconds: float = 0.0
    bulk_models: int = 0
    bulk_versions: int = 0
    bulk_seconds: float = 0.0
    integrate_seconds: float = 0.0
    approvals: int = 0
    approval_seconds: float = 0.0
    verified_sample: int = 0
    audit_entries: int = 0
    checkpoints: int = 0
    token: str = ""
    allow: list[GateTarget] = field(default_factory=list)
    deny: list[GateTarget] = field(default_factory=list)

    @property
    def ms_per_service_version(self) -> float:
        return self.service_version_seconds / self.service_versions * 1e3 if self.service_versions else 0.0

    @property
    def ms_per_service_model(self) -> float:
        return self.service_model_seconds / self.service_models * 1e3 if self.service_models else 0.0


@dataclass
class _People:
    teams: list[Group]
    developers: list[Any]  # developers[t]: owner and registrar of team t's models, requester of their promotions
    validators: list[Any]
    ci: Any


# --------------------------------------------------------------------------------------------------
# Deterministic inventory content
# --------------------------------------------------------------------------------------------------


def team_name(team: int) -> str:
    return f"bench-team-{team:02d}"


def model_name(index: int) -> str:
    return f"bench-model-{index:04d}"


def team_of(index: int, plan: InventoryPlan) -> int:
    return index % plan.teams


def risk_tier_of(index: int) -> str:
    """Half low, a quarter medium, a quarter high; the low-risk models are the ones approved."""
    return str((RiskTier.LOW, RiskTier.MEDIUM, RiskTier.LOW, RiskTier.HIGH)[index % 4])


def producer_key(team: int) -> ed25519.Ed25519PrivateKey:
    """The team's Ed25519 producer key, derived from its number (the bench keeps no key files)."""
    seed = hashlib.sha256(f"modelgov-bench-producer-{team}".encode()).digest()
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def model_fields(index: int, plan: InventoryPlan) -> dict[str, Any]:
    """What registered_model_create is given (and what the bulk path stores) for model ``index``."""
    return {
        "name": model_name(index),
        "risk_tier": risk_tier_of(index),
        "display_name": f"Benchmark model {index}",
        "description": "Probability-of-default scorecard retrained monthly on the latest bureau data.",
        "eu_ai_act_category": str(EuAiActCategory.MINIMAL_RISK),
        "intended_use": "Retail credit decisions up to 50k EUR",
        "out_of_scope_use": "Corporate lending",
        "regulatory_scope": ["SR 11-7", "EU AI Act"],
    }


def manifest_of(name: str, number: int) -> dict[str, Any]:
    """An OMS manifest of four files whose digests depend on the model and the version."""
    files = ("config.json", "model.safetensors", "tokenizer.json", "training_args.json")

    def digest(file: str) -> str:
        return hashlib.sha256(f"{name}/{number}/{file}".encode()).hexdigest()

    return {
        "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
        "resources": [{"name": file, "algorithm": "sha256", "digest": digest(file)} for file in files],
    }


def metrics_of(index: int, number: int) -> dict[str, Any]:
    return {"auc": round(0.70 + (index * 7 + number) % 200 / 1000, 3), "gini": round(0.4 + number / 100, 3)}


def parameters_of(number: int) -> dict[str, Any]:
    return {"max_depth": 4 + number % 4, "learning_rate": 0.05, "n_estimators": 200 + 10 * number}


def artifact_uri_of(name: str, number: int) -> str:
    return f"s3://bench-models/{name}/{number}/"


# --------------------------------------------------------------------------------------------------
# People and keys (ORM and services)
# --------------------------------------------------------------------------------------------------


def _people_create(plan: InventoryPlan) -> _People:
    users = get_user_model()
    model_owner = Group.objects.get(name=Role.MODEL_OWNER)
    teams = [Group.objects.create(name=team_name(team)) for team in range(plan.teams)]
    developers = []
    for team, group in enumerate(teams):
        developer = users.objects.create_user(username=f"bench-dev-{team:02d}", email=f"dev{team}@bench.invalid")
        developer.groups.add(group, model_owner)
        developers.append(developer)
    validator_role = Group.objects.get(name=Role.VALIDATOR)
    validators = []
    for number in range(plan.validators):
        validator = users.objects.create_user(username=f"bench-validator-{number}", email=f"v{number}@bench.invalid")
        validator.groups.add(validator_role)
        validators.append(validator)
    # The CI service account: a member of every team (object permissions: view, request promotion).
    ci = users.objects.create_user(username=CI_USERNAME, email="ci@bench.invalid")
    ci.groups.add(*teams, Group.objects.get(name=Role.CI_PIPELINE))
    return _People(teams=teams, developers=developers, validators=validators, ci=ci)


def _keys_register(people: _People) -> dict[int, tuple[ed25519.Ed25519PrivateKey, SigningKey]]:
    keys = {}
    for team, developer in enumerate(people.developers):
        private_key = producer_key(team)
        signing_key = signing_key_register(
            actor=developer,
            team=team_name(team),
            name=f"producer key of {team_name(team)}",
            public_key_pem=public_key_pem(private_key.public_key()),
        )
        keys[team] = (private_key, signing_key)
    return keys


# --------------------------------------------------------------------------------------------------
# Bulk rows, as the services would write them
# --------------------------------------------------------------------------------------------------


def audit_entry_row(
    *,
    actor: Any,
    event_type: AuditEvent,
    subject: Any,
    model_name: str,
    after: dict[str, Any],
    created_at: Any,
    request_id: str = "",
) -> AuditEntry:
    """The AuditEntry ``governance.audit.services.audit_record`` writes, unsaved (no request id: not a request)."""
    document = {
        "v": 1,
        "time": created_at.isoformat().replace("+00:00", "Z"),
        "actor": {"id": actor.pk, "name": actor.get_username()},
        "event": str(event_type),
        "subject": {"type": subject._meta.label, "id": str(subject.pk), "repr": str(subject)[:300]},
        "model": model_name,
        "before": None,
        "after": after,
        "request_id": request_id,
    }
    entry_bytes = canonical_json(document)
    return AuditEntry(
        created_at=created_at,
        actor_id=actor.pk,
        actor_name=actor.get_username(),
        event_type=str(event_type),
        subject_type=subject._meta.label,
        subject_id=str(subject.pk),
        subject_repr=str(subject)[:300],
        model_name=model_name,
        before=None,
        after=after,
        request_id=request_id,
        entry_bytes=entry_bytes,
        leaf_hash=tlog.leaf_hash(entry_bytes),
    )


def version_row(
    *,
    model: RegisteredModel,
    index: int,
    number: int,
    registrar: Any,
    private_key: ed25519.Ed25519PrivateKey,
    signing_key: SigningKey,
    created_at: Any,
) -> tuple[ModelVersion, dict[str, Any]]:
    """The ModelVersion ``model_version_register`` stores for this producer-signed manifest, and the
    ``after`` of its audit entry: same signature check, same record, same countersignature."""
    signature = sign_manifest(model_name=model.name, manifest=manifest_of(model.name, number), private_key=private_key)
    signed = verify_producer_signature(signature=signature, public_key_pem=signing_key.public_key_pem)
    stored_manifest = {**signed.predicate, "resources": signed.resources}
    metrics, parameters = metrics_of(index, number), parameters_of(number)
    record = {
        "model": model.name,
        "version": number,
        "artifact_uri": artifact_uri_of(model.name, number),
        "artifact_digest": signed.root_digest,
        "manifest_sha256": hashlib.sha256(canonical_json(stored_manifest)).hexdigest(),
        "producer_key": signing_key.fingerprint,
        "producer_signature_sha256": envelope_sha256(signature),
        "training_run_id": "",
        "metrics": metrics,
        "parameters": parameters,
        "created_by": registrar.get_username(),
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
    }
    envelope, envelope_hash = countersign(
        inventory_statement(record, model_name=model.name, artifact_digest=signed.root_digest)
    )
    version = ModelVersion(
        model=model,
        version=number,
        artifact_uri=record["artifact_uri"],
        manifest=stored_manifest,
        artifact_digest=signed.root_digest,
        metrics=metrics,
        parameters=parameters,
        training_run_id="",
        producer_signature=signature,
        signing_key=signing_key,
        countersignature=envelope,
        countersignature_sha256=envelope_hash,
        created_by=registrar,
        created_at=created_at,
    )
    after = {**record, "resources": len(signed.resources), "countersignature_sha256": envelope_hash}
    return version, after


def _object_permissions(template: RegisteredModel) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(group id, permission id) and (user id, permission id) that the services granted on ``template``."""
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    groups = GroupObjectPermission.objects.filter(content_type=content_type, object_pk=str(template.pk))
    users = UserObjectPermission.objects.filter(content_type=content_type, object_pk=str(template.pk))
    return (
        list(groups.values_list("group_id", "permission_id")),
        list(users.values_list("user_id", "permission_id")),
    )


def _bulk_chunk(
    indexes: list[int],
    plan: InventoryPlan,
    people: _People,
    keys: dict[int, tuple[ed25519.Ed25519PrivateKey, SigningKey]],
    templates: dict[int, RegisteredModel],
) -> None:
    """Models ``indexes`` with their object permissions, versions, lineage nodes and audit entries."""
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    with transaction.atomic():
        models = [
            RegisteredModel(
                **model_fields(index, plan),
                team=people.teams[team_of(index, plan)],
                owner=people.developers[team_of(index, plan)],
                status=ModelStatus.ACTIVE,
            )
            for index in indexes
        ]
        RegisteredModel.objects.bulk_create(models)
        group_rows, user_rows = [], []
        entries: list[AuditEntry] = []
        granted = {team: _object_permissions(template) for team, template in templates.items()}
        for index, model in zip(indexes, models, strict=True):
            groups, users = granted[team_of(index, plan)]
            object_pk = str(model.pk)
            group_rows += [
                GroupObjectPermission(group_id=g, permission_id=p, content_type=content_type, object_pk=object_pk)
                for g, p in groups
            ]
            user_rows += [
                UserObjectPermission(user_id=u, permission_id=p, content_type=content_type, object_pk=object_pk)
                for u, p in users
            ]
            entries.append(
                audit_entry_row(
                    actor=model.owner,
                    event_type=AuditEvent.REGISTERED_MODEL_CREATED,
                    subject=model,
                    model_name=model.name,
                    after={"name": model.name, **_snapshot(model)},
                    created_at=timezone.now(),
                )
            )
        GroupObjectPermission.objects.bulk_create(group_rows)
        UserObjectPermission.objects.bulk_create(user_rows)
        versions: list[ModelVersion] = []
        afters: list[dict[str, Any]] = []
        for index, model in zip(indexes, models, strict=True):
            team = team_of(index, plan)
            private_key, signing_key = keys[team]
            for number in range(1, plan.versions_per_model + 1):
                version, after = version_row(
                    model=model,
                    index=index,
                    number=number,
                    registrar=people.developers[team],
                    private_key=private_key,
                    signing_key=signing_key,
                    created_at=timezone.now(),
                )
                versions.append(version)
                afters.append(after)
        ModelVersion.objects.bulk_create(versions, batch_size=500)
        LineageNode.objects.bulk_create(
            [
                LineageNode(
                    kind=LineageKind.MODEL_VERSION,
                    namespace="modelgov",
                    name=f"{version.model.name}/{version.version}",
                    facets={"artifact_digest": version.artifact_digest},
                    model_version=version,
                )
                for version in versions
            ],
            batch_size=1000,
        )
        entries += [
            audit_entry_row(
                actor=version.created_by,
                event_type=AuditEvent.MODEL_VERSION_REGISTERED,
                subject=version,
                model_name=version.model.name,
                after=after,
                created_at=version.created_at,
            )
            for version, after in zip(versions, afters, strict=True)
        ]
        AuditEntry.objects.bulk_create(entries, batch_size=1000)
        AuditPending.objects.bulk_create(
            [AuditPending(entry=entry, leaf_hash=entry.leaf_hash) for entry in entries], batch_size=1000
        )


def bulk_equivalence_check(plan: InventoryPlan, people: _People, keys: dict[int, Any]) -> None:
    """Rebuild the service-registered model 0 and its version 1 with the bulk builders: same bytes."""
    model = RegisteredModel.objects.select_related("owner", "team").get(name=model_name(0))
    stored = ModelVersion.objects.select_related("signing_key", "created_by").get(model=model, version=1)
    private_key, signing_key = keys[team_of(0, plan)]
    rebuilt, after = version_row(
        model=model,
        index=0,
        number=1,
        registrar=people.developers[team_of(0, plan)],
        private_key=private_key,
        signing_key=signing_key,
        created_at=stored.created_at,
    )
    for name in (
        "artifact_uri",
        "manifest",
        "artifact_digest",
        "metrics",
        "parameters",
        "producer_signature",
        "countersignature",
        "countersignature_sha256",
    ):
        if getattr(rebuilt, name) != getattr(stored, name):
            raise RuntimeError(f"the bulk builder diverges from model_version_register on {name}")
    for subject, event, entry_after in (
        (stored, AuditEvent.MODEL_VERSION_REGISTERED, after),
        (model, AuditEvent.REGISTERED_MODEL_CREATED, {"name": model.name, **_snapshot(model)}),
    ):
        logged = AuditEntry.objects.get(event_type=event, subject_type=subject._meta.label, subject_id=str(subject.pk))
        rebuilt_entry = audit_entry_row(
            actor=people.developers[team_of(0, plan)],
            event_type=event,
            subject=subject,
            model_name=model.name,
            after=entry_after,
            created_at=logged.created_at,
            request_id=logged.request_id,
        )
        if bytes(rebuilt_entry.entry_bytes) != bytes(logged.entry_bytes):
            raise RuntimeError(f"the bulk audit entry of {event} differs from the one audit_record wrote")


# --------------------------------------------------------------------------------------------------
# The whole load
# --------------------------------------------------------------------------------------------------


def _approve(plan: InventoryPlan, people: _People, report: LoadReport) -> list[GateTarget]:
    """Approve the latest version of ``plan.approvals`` low-risk models for production (one validator)."""
    low = [index for index in range(plan.models) if risk_tier_of(index) == RiskTier.LOW]
    step = max(1, len(low) // plan.approvals)
    chosen = low[::step][: plan.approvals]
    targets = []
    started = time.perf_counter()
    for number, index in enumerate(chosen):
        version = ModelVersion.objects.select_related("model").get(
            model__name=model_name(index), version=plan.versions_per_model
        )
        request = approval_request_create(
            actor=people.developers[team_of(index, plan)],
            model_version=version,
            target_stage=TARGET_STAGE,
            comment="Monthly recalibration, backtest attached.",
        )
        request = approval_request_decide(
            actor=people.validators[number % len(people.validators)],
            request=request,
            decision="approve",
            comment="Independent validation passed.",
        )
        if request.state != ApprovalState.APPROVED:
            raise RuntimeError(f"approval of {version} ended {request.state}")
        targets.append(GateTarget(version.model.name, version.version, version.artifact_digest))
    report.approval_seconds = time.perf_counter() - started
    report.approvals = len(targets)
    return targets


def _deny_targets(plan: InventoryPlan, approved: list[GateTarget], seed: int = 4242) -> list[GateTarget]:
    approved_keys = {(target.model, target.version) for target in approved}
    rows = ModelVersion.objects.select_related("model").values_list("model__name", "version", "artifact_digest")
    candidates = [GateTarget(*row) for row in rows if (row[0], row[1]) not in approved_keys]
    return random.Random(seed).sample(candidates, min(DENY_TARGETS, len(candidates)))


def _verify_sample(ci: Any, samples: int, seed: int = 1717) -> int:
    """model_version_verify on random versions (service and bulk): every check must hold, and the CI
    account must see and may ask the gate about their models."""
    pks = list(ModelVersion.objects.values_list("pk", flat=True))
    chosen = random.Random(seed).sample(pks, min(samples, len(pks)))
    versions = ModelVersion.objects.select_related("model", "signing_key").filter(pk__in=chosen)
    for version in versions:
        failed = [check.name for check in model_version_verify(version=version) if not check.ok]
        if failed:
            raise RuntimeError(f"{version}: model_version_verify fails {failed}")
        for permission in (ModelPermission.VIEW, ModelPermission.REQUEST_PROMOTION):
            if not user_has_model_perm(ci, permission, version.model):
                raise RuntimeError(f"{CI_USERNAME} lacks {permission} on {version.model.name}")
    return len(chosen)


def inventory_load(plan: InventoryPlan, progress: Callable[[str], None]) -> LoadReport:
    report = LoadReport()
    people = _people_create(plan)
    keys = _keys_register(people)

    # 1. Through the services: the first model(s) of every team, with all their versions.
    service_indexes = list(range(min(plan.models, plan.teams * plan.service_models_per_team)))
    templates: dict[int, RegisteredModel] = {}
    for index in service_indexes:
        team = team_of(index, plan)
        developer = people.developers[team]
        started = time.perf_counter()
        model = registered_model_create(actor=developer, team=team_name(team), **model_fields(index, plan))
        report.service_model_seconds += time.perf_counter() - started
        templates.setdefault(team, model)
        private_key = keys[team][0]
        started = time.perf_counter()
        for number in range(1, plan.versions_per_model + 1):
            model_version_register(
                actor=developer,
                model=model,
                artifact_uri=artifact_uri_of(model.name, number),
                signature=sign_manifest(
                    model_name=model.name, manifest=manifest_of(model.name, number), private_key=private_key
                ),
                signing_key=fingerprint(private_key.public_key()),
                metrics=metrics_of(index, number),
                parameters=parameters_of(number),
            )
        report.service_version_seconds += time.perf_counter() - started
    report.service_models = len(service_indexes)
    report.service_versions = len(service_indexes) * plan.versions_per_model
    progress(
        f"services: {report.service_models} registered_model_create ({report.ms_per_service_model:.0f} ms each), "
        f"{report.service_versions} model_version_register ({report.ms_per_service_version:.0f} ms each: "
        f"{plan.versions} would take {report.ms_per_service_version * plan.versions / 1e3:.0f} s)"
    )
    bulk_equivalence_check(plan, people, keys)

    # 2. Bulk: the remaining models and versions, the same rows, in chunks.
    started = time.perf_counter()
    bulk_indexes = [index for index in range(plan.models) if index >= len(service_indexes)]
    for start in range(0, len(bulk_indexes), BULK_CHUNK_MODELS):
        _bulk_chunk(bulk_indexes[start : start + BULK_CHUNK_MODELS], plan, people, keys, templates)
    report.bulk_seconds = time.perf_counter() - started
    report.bulk_models = len(bulk_indexes)
    report.bulk_versions = len(bulk_indexes) * plan.versions_per_model
    started = time.perf_counter()
    audit_log_integrate(wait=True)
    report.integrate_seconds = time.perf_counter() - started
    progress(
        f"bulk: {report.bulk_models} models + {report.bulk_versions} signed, countersigned versions in "
        f"{report.bulk_seconds:.1f} s ({report.bulk_seconds / max(1, report.bulk_versions) * 1e3:.2f} ms per version); "
        f"audit_log_integrate of their entries {report.integrate_seconds:.1f} s"
    )

    # 3. Approvals through the services, then what the load generator asks about.
    report.allow = _approve(plan, people, report)
    report.deny = _deny_targets(plan, report.allow)
    report.verified_sample = _verify_sample(people.ci, samples=min(200, plan.versions))
    report.token = api_token_create(actor=None, user=people.ci, name="bench-gate", expires_at=None).secret
    audit_log_integrate(wait=True)
    report.audit_entries = AuditEntry.objects.count()
    report.checkpoints = AuditCheckpoint.objects.count()
    with connection.cursor() as cursor:  # fresh statistics after the bulk insert, as autovacuum would leave them
        cursor.execute("VACUUM ANALYZE")
    return report


def gate_body(target: GateTarget, number: int) -> dict[str, Any]:
    return {
        "model": target.model,
        "version": target.version,
        "target_stage": TARGET_STAGE,
        "artifact_digest": target.artifact_digest,
        "pipeline": {
            "system": "bench",
            "run_id": f"run-{number}",
            "url": f"https://ci.bench.invalid/runs/{number}",
            "commit": hashlib.sha1(str(number).encode(), usedforsecurity=False).hexdigest(),
        },
        "dry_run": True,
    }


def gate_bodies(allow: list[GateTarget], deny: list[GateTarget], count: int, seed: int = 99) -> list[str]:
    """``count`` JSON bodies, half about approved versions (allow), half about unapproved ones (deny), shuffled."""
    bodies = []
    for number in range(count):
        targets = allow if number % 2 == 0 else deny
        bodies.append(json.dumps(gate_body(targets[(number // 2) % len(targets)], number), separators=(",", ":")))
    random.Random(seed).shuffle(bodies)
    return bodies


# --------------------------------------------------------------------------------------------------
# After the load
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AfterLoad:
    decisions: int
    allow: int
    not_dry_run: int
    promoted_versions: int
    pending: int


def after_load() -> AfterLoad:
    """What the gate calls wrote: decisions (all dry runs), no stage change, every entry integrated."""
    audit_log_integrate(wait=True)
    return AfterLoad(
        decisions=GateDecision.objects.count(),
        allow=GateDecision.objects.filter(decision="allow").count(),
        not_dry_run=GateDecision.objects.filter(dry_run=False).count(),
        promoted_versions=ModelVersion.objects.exclude(stage=Stage.NONE).count(),
        pending=AuditPending.objects.count(),
    )


# --------------------------------------------------------------------------------------------------
# In-process profile of gate requests
# --------------------------------------------------------------------------------------------------

_SKIP = (".venv", "site-packages", "bench/")


def _app_frames(limit: int = 2) -> str:
    """The innermost application frames (not Django, DRF, guardian or this bench) of the current stack."""
    frames = []
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = frame.filename
        if not path.startswith(str(REPO_ROOT)) or any(part in path for part in _SKIP):
            continue
        frames.append(f"{Path(path).relative_to(REPO_ROOT)}:{frame.lineno} {frame.name}")
        if len(frames) == limit:
            break
    return " < ".join(frames) or "(framework)"


@dataclass
class QuerySite:
    site: str
    count: int = 0
    seconds: float = 0.0
    sql: str = ""  # the first statement seen at this site, shortened


@dataclass
class _Recorder:
    sites: dict[str, QuerySite] = field(default_factory=dict)
    statements: Counter[str] = field(default_factory=Counter)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        site = _app_frames()
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            record = self.sites.setdefault(site, QuerySite(site, sql=" ".join(sql.split())[:110]))
            record.count += 1
            record.seconds += time.perf_counter() - started
            self.statements[sql.split(" ", 1)[0].upper()] += 1

    @contextmanager
    def commits(self) -> Iterator[None]:
        """Time COMMIT too (Django commits through the connection, not a cursor; fsync happens there)."""
        wrapper: Any = connection  # BaseDatabaseWrapper._commit is private: patched on this instance only
        original = wrapper._commit

        def timed() -> None:
            site = "COMMIT < " + _app_frames(1)
            started = time.perf_counter()
            try:
                original()
            finally:
                record = self.sites.setdefault(site, QuerySite(site, sql="COMMIT"))
                record.count += 1
                record.seconds += time.perf_counter() - started

        wrapper._commit = timed
        try:
            yield
        finally:
            del wrapper._commit


def _short(filename: str) -> str:
    """A profiled file without the machine's directories: repo-relative, or from site-packages on."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    if filename.startswith(str(REPO_ROOT)):
        return str(Path(filename).relative_to(REPO_ROOT))
    return Path(filename).name


@dataclass
class GateProfile:
    label: str
    requests: int
    wall_ms: float  # mean per request, no profiler
    cpu_ms: float  # CPU time of this process per request (time.process_time), no profiler
    queries: float  # mean per request (CaptureQueriesContext)
    statements: dict[str, float]
    db_ms: float  # mean per request: queries + commits, measured around execute / commit
    sites: list[QuerySite]  # totals over the requests
    # cProfile with time.process_time as its clock: CPU of this process (PostgreSQL's is not in it).
    functions: list[tuple[str, float, float]]  # (function, cumulative CPU ms per request, % of the profiled CPU)
    own_time: list[tuple[str, float, float]]  # the functions with the most own CPU time (tottime), same units


# Functions of the gate's path whose cumulative time cProfile reports (file suffix, function name).
PROFILED_FUNCTIONS = (
    ("governance/authentication.py", "authenticate", "BearerTokenAuthentication.authenticate (token lookup)"),
    ("registry/selectors.py", "registered_model_get", "registered_model_get"),
    ("registry/selectors.py", "model_version_get", "model_version_get"),
    ("governance/gate/services.py", "gate_evaluate", "gate_evaluate (all of it)"),
    ("registry/permissions.py", "user_has_model_perm", "user_has_model_perm (all calls)"),
    ("registry/selectors.py", "model_version_verify", "model_version_verify"),
    ("registry/signing.py", "verify_producer_signature", "  verify_producer_signature"),
    ("registry/selectors.py", "_countersignature_check", "  _countersignature_check"),
    ("registry/signing.py", "verify_countersignature", "    verify_countersignature"),
    ("hooks/tlog.py", "dsse_verify", "  hooks.tlog.dsse_verify (all calls)"),
    ("core/signing.py", "parse_public_key", "  core.signing.parse_public_key (all calls)"),
    ("governance/approvals/selectors.py", "approval_status_for", "approval_status_for"),
    ("governance/gate/services.py", "_run_checks", "_run_checks (plugins)"),
    ("governance/gate/services.py", "_sign", "_sign (gate_decision key)"),
    ("governance/audit/services.py", "audit_record", "audit_record (the decision row, its entry, the commit)"),
    ("governance/audit/services.py", "audit_log_integrate", "  audit_log_integrate (after the commit)"),
    ("governance/gate/notify.py", "plugins_notify", "plugins_notify (eager Celery task)"),
    ("rest_framework/renderers.py", "render", "JSONRenderer.render"),
    ("celery/app/task.py", "apply", "Celery eager apply (plugin notification task)"),
    ("django/db/models/sql/compiler.py", "as_sql", "Django ORM: SQL compilation (all queries)"),
    ("~", "<method 'execute' of 'psycopg2.extensions.cursor' objects>", "psycopg2 execute: waiting for PostgreSQL"),
    ("~", "<method 'commit' of 'psycopg2.extensions.connection' objects>", "psycopg2 commit: waiting for PostgreSQL"),
)


def _function_times(stats: pstats.Stats, requests: int, total: float) -> list[tuple[str, float, float]]:
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    sums: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
        for suffix, function, label in PROFILED_FUNCTIONS:
            if name == function and filename.endswith(suffix):
                sums[label] += cumulative
    return [
        (label, sums[label] / requests * 1e3, sums[label] / total * 100 if total else 0.0)
        for _suffix, _function, label in PROFILED_FUNCTIONS
        if label in sums
    ]


def _own_time(stats: pstats.Stats, requests: int, total: float, top: int = 15) -> list[tuple[str, float, float]]:
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    ranked = sorted(raw.items(), key=lambda item: -item[1][2])[:top]
    return [
        (f"{_short(filename)}:{line} {name}", own / requests * 1e3, own / total * 100 if total else 0.0)
        for (filename, line, name), (_cc, _nc, own, _cumulative, _callers) in ranked
    ]


def profile_gate(token: str, bodies: list[str], label: str, requests: int) -> GateProfile:
    """Gate requests through the whole Django stack in this process (django.test.Client): wall and CPU
    time, queries (CaptureQueriesContext) by application call site, commits, then a CPU-clock cProfile pass."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(body: str) -> None:
        response = client.post(GATE_PATH, data=body, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"gate answered {response.status_code}: {response.content[:300]!r}")

    for body in bodies[:3]:  # warm-up: connection, plugin manager, key cache, query plans
        post(body)
    chosen = [bodies[number % len(bodies)] for number in range(requests)]

    started, cpu_started = time.perf_counter(), time.process_time()
    for body in chosen:
        post(body)
    wall = (time.perf_counter() - started) / requests
    cpu = (time.process_time() - cpu_started) / requests

    recorder = _Recorder()
    queries = 0
    with recorder.commits(), connection.execute_wrapper(recorder):
        for body in chosen:
            with CaptureQueriesContext(connection) as captured:
                post(body)
            queries += len(captured.captured_queries)
    db_seconds = sum(site.seconds for site in recorder.sites.values())

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for body in chosen:
        post(body)
    profiler.disable()
    stats = pstats.Stats(profiler)
    if dump := os.environ.get("BENCH_PROFILE_DUMP"):  # a directory: the raw profile, for pstats or snakeviz
        stats.dump_stats(os.path.join(dump, f"gate-{label}.prof"))
    total = stats.total_tt  # type: ignore[attr-defined]
    return GateProfile(
        label=label,
        requests=requests,
        wall_ms=wall * 1e3,
        cpu_ms=cpu * 1e3,
        queries=queries / requests,
        statements={name: count / requests for name, count in recorder.statements.most_common()},
        db_ms=db_seconds / requests * 1e3,
        sites=sorted(recorder.sites.values(), key=lambda site: -site.seconds),
        functions=_function_times(stats, requests, total),
        own_time=_own_time(stats, requests, total),
    )


def profile_bare(requests: int) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) per ``GET /bench/bare`` through the same in-process client."""
    client = Client()
    for _ in range(3):
        client.get("/bench/bare")
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(requests):
        response = client.get("/bench/bare")
        if response.status_code != 200:
            raise RuntimeError(f"/bench/bare answered {response.status_code}")
    return (time.perf_counter() - started) / requests * 1e3, (time.process_time() - cpu_started) / requests * 1e3

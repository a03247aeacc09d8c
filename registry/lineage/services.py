"""Writes of the lineage graph: ingestion of OpenLineage events, deployments, approval snapshots."""

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.canonical import canonical_json
from core.errors import PermissionDenied
from governance.choices import AuditEvent
from governance.services import audit_record
from registry.choices import LineageKind, ModelPermission
from registry.errors import DeploymentRetired
from registry.lineage.selectors import lineage_graph
from registry.lineage.validation import validate_event
from registry.models import Deployment, LineageEdge, LineageEvent, LineageNode, LineageSnapshot, ModelVersion
from registry.permissions import user_has_model_perm

MODEL_DATASET_TYPES = {"MODEL", "ML_MODEL"}


def _node(kind: str, namespace: str, name: str, facets: dict[str, Any] | None = None, **links: Any) -> LineageNode:
    node, created = LineageNode.objects.get_or_create(
        kind=kind, namespace=namespace, name=name, defaults={"facets": facets or {}, **links}
    )
    if not created and facets:
        merged = {**node.facets, **facets}
        if merged != node.facets:
            node.facets = merged
            node.save(update_fields=["facets", "updated_at"])
    return node


def _edge(source: LineageNode, target: LineageNode) -> None:
    LineageEdge.objects.get_or_create(source=source, target=target)


def version_node(version: ModelVersion) -> LineageNode:
    return _node(
        LineageKind.MODEL_VERSION,
        "modelgov",
        f"{version.model.name}/{version.version}",
        {"artifact_digest": version.artifact_digest},
        model_version=version,
    )


def _dataset_digest(facets: dict[str, Any]) -> str | None:
    """A model artifact's digest as an output dataset carries it (datasetVersion or a modelgov facet)."""
    for key, field in (("modelgovArtifact", "digest"), ("datasetVersion", "datasetVersion")):
        value = (facets.get(key) or {}).get(field)
        if isinstance(value, str) and value.startswith("sha256:"):
            return value
    return None


def _link_model_outputs(dataset: LineageNode, facets: dict[str, Any]) -> None:
    dataset_type = str((facets.get("datasetType") or {}).get("datasetType", "")).upper()
    digest = _dataset_digest(facets)
    if dataset_type not in MODEL_DATASET_TYPES or digest is None:
        return
    for version in ModelVersion.objects.select_related("model").filter(artifact_digest=digest):
        _edge(dataset, version_node(version))


def _link_run_to_versions(run: LineageNode, run_id: str) -> None:
    # A run id is a UUID: the producer's and the registration's spelling may differ in case.
    for version in ModelVersion.objects.select_related("model").filter(training_run_id__iexact=run_id):
        _edge(run, version_node(version))


def lineage_event_ingest(*, actor: Any, payload: dict[str, Any]) -> tuple[LineageEvent, bool]:
    """Store a raw OpenLineage event, update the graph and log the event's hash. The same event
    (same canonical bytes) sent again returns the stored one and creates nothing."""
    kind, event_time = validate_event(payload)
    event_hash = hashlib.sha256(canonical_json(payload)).hexdigest()
    existing = LineageEvent.objects.filter(event_hash=event_hash).first()
    if existing is not None:
        return existing, False
    job = payload.get("job") or {}
    run = payload.get("run") or {}
    try:
        with transaction.atomic():
            event = LineageEvent.objects.create(
                event_hash=event_hash,
                kind=kind,
                event_type=str(payload.get("eventType", "")) if kind == "run" else "",
                event_time=event_time,
                run_id=str(run.get("runId", "")).lower(),
                job_namespace=str(job.get("namespace", "")),
                job_name=str(job.get("name", "")),
                producer=str(payload["producer"]),
                payload=payload,
                received_by=actor,
            )
            _apply(kind, payload)
            audit_record(
                actor=actor,
                event_type=AuditEvent.LINEAGE_EVENT_INGESTED,
                subject=event,
                after={
                    "event_sha256": event_hash,
                    "kind": kind,
                    "event_type": event.event_type,
                    "job": f"{event.job_namespace}/{event.job_name}" if job else "",
                    "run_id": event.run_id,
                    "producer": event.producer,
                },
            )
    except IntegrityError:
        # The same event raced in from another request: the first one stands.
        return LineageEvent.objects.get(event_hash=event_hash), False
    return event, True


def _apply(kind: str, payload: dict[str, Any]) -> None:
    if kind == "dataset":
        dataset = payload["dataset"]
        node = _node(LineageKind.DATASET, dataset["namespace"], dataset["name"], dataset.get("facets"))
        _link_model_outputs(node, node.facets)
        return
    job_spec = payload["job"]
    job = _node(LineageKind.JOB, job_spec["namespace"], job_spec["name"], job_spec.get("facets"))
    middle = job
    if kind == "run":
        run_id = str(payload["run"]["runId"]).lower()
        middle = _node(LineageKind.RUN, job_spec["namespace"], run_id, payload["run"].get("facets"))
        _edge(job, middle)
        _link_run_to_versions(middle, run_id)
    for dataset in payload.get("inputs") or []:
        node = _node(LineageKind.DATASET, dataset["namespace"], dataset["name"], dataset.get("facets"))
        _edge(node, middle)
    for dataset in payload.get("outputs") or []:
        node = _node(LineageKind.DATASET, dataset["namespace"], dataset["name"], dataset.get("facets"))
        _edge(middle, node)
        _link_model_outputs(node, node.facets)


def lineage_link_model_version(*, version: ModelVersion) -> LineageNode:
    """Give a newly registered version its node, linked to its training run if that is known."""
    node = version_node(version)
    if version.training_run_id:
        for run in LineageNode.objects.filter(kind=LineageKind.RUN, name=version.training_run_id.lower()):
            _edge(run, node)
    # Training usually reports its MODEL output before CI registers it: link such datasets now.
    digest = version.artifact_digest
    candidates = LineageNode.objects.filter(kind=LineageKind.DATASET).filter(
        Q(facets__datasetVersion__datasetVersion=digest) | Q(facets__modelgovArtifact__digest=digest)
    )
    for dataset in candidates:
        dataset_type = str((dataset.facets.get("datasetType") or {}).get("datasetType", "")).upper()
        if dataset_type in MODEL_DATASET_TYPES and _dataset_digest(dataset.facets) == digest:
            _edge(dataset, node)
    return node


def deployment_record(*, actor: Any, version: ModelVersion, environment: str, endpoint: str = "") -> Deployment:
    """Record that a version was put into service in an environment; linked into the graph and logged."""
    model = version.model
    if not user_has_model_perm(actor, ModelPermission.REQUEST_PROMOTION, model):
        raise PermissionDenied(
            f"You may not record deployments of model {model.name!r}.",
            extra={"model": model.name, "permission": ModelPermission.REQUEST_PROMOTION.value},
        )
    with transaction.atomic():
        deployment = Deployment.objects.create(
            model_version=version, environment=environment, endpoint=endpoint, deployed_by=actor
        )
        node = _node(
            LineageKind.DEPLOYMENT,
            environment,
            f"{model.name}/{version.version}/{deployment.pk}",
            {"endpoint": endpoint},
            deployment=deployment,
        )
        _edge(version_node(version), node)
        audit_record(
            actor=actor,
            event_type=AuditEvent.DEPLOYMENT_RECORDED,
            subject=deployment,
            model_name=model.name,
            after={
                "model": model.name,
                "version": version.version,
                "environment": environment,
                "endpoint": endpoint,
                "artifact_digest": version.artifact_digest,
            },
        )
    return deployment


def deployment_retire(*, actor: Any, deployment: Deployment) -> Deployment:
    model = deployment.model_version.model
    if not user_has_model_perm(actor, ModelPermission.REQUEST_PROMOTION, model):
        raise PermissionDenied(f"You may not retire deployments of model {model.name!r}.", extra={"model": model.name})
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.retired_at is not None:
            raise DeploymentRetired("This deployment is already retired.", extra={"deployment": locked.pk})
        locked.retired_at = timezone.now()
        locked.retired_by = actor
        locked.save(update_fields=["retired_at", "retired_by"])
        audit_record(
            actor=actor,
            event_type=AuditEvent.DEPLOYMENT_RETIRED,
            subject=locked,
            model_name=model.name,
            after={"environment": locked.environment, "retired_at": locked.retired_at.isoformat()},
        )
    return locked


def lineage_snapshot_take(*, actor: Any, version: ModelVersion, approval_request_id: int | None) -> LineageSnapshot:
    """Freeze the version's upstream lineage (called when it is approved for production)."""
    node = version_node(version)
    graph = lineage_graph(node=node, direction="upstream", depth=100, limit=10_000)
    document = {
        "model": version.model.name,
        "version": version.version,
        "artifact_digest": version.artifact_digest,
        "nodes": graph["nodes"],
        "edges": graph["edges"],
        "truncated": graph["truncated"],
    }
    digest = hashlib.sha256(canonical_json(document)).hexdigest()
    snapshot = LineageSnapshot.objects.create(
        model_version=version, approval_request_id=approval_request_id, graph=document, sha256=digest
    )
    audit_record(
        actor=actor,
        event_type=AuditEvent.LINEAGE_SNAPSHOT_TAKEN,
        subject=snapshot,
        model_name=version.model.name,
        after={
            "sha256": digest,
            "nodes": len(graph["nodes"]),
            "edges": len(graph["edges"]),
            "approval": approval_request_id,
        },
    )
    return snapshot

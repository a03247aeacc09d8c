"""The notification hooks besides the gate's: a registration and a final approval decision reach
every plugin after commit, and a plugin that fails is recorded in the log without undoing the
governance write."""

from typing import Any

from governance.models import ApprovalRequest, AuditEntry
from hooks.events import ApprovalDecided, ModelVersionRegistered
from hooks.specs import hookimpl
from registry.models import ModelVersion
from tests.factories import approve_promotion, make_version


class Listener:
    """Hears registrations and final approval decisions; raises ``error`` after hearing one, if given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.events: list[ModelVersionRegistered | ApprovalDecided] = []
        self.error = error

    def _hear(self, event: ModelVersionRegistered | ApprovalDecided) -> None:
        self.events.append(event)
        if self.error:
            raise self.error

    @hookimpl
    def modelgov_model_version_registered(self, event: ModelVersionRegistered) -> None:
        self._hear(event)

    @hookimpl
    def modelgov_approval_decided(self, event: ApprovalDecided) -> None:
        self._hear(event)


def failures() -> list[tuple[str, str, str, Any]]:
    return [
        (entry.actor_name, entry.subject_type, entry.subject_id, entry.after)
        for entry in AuditEntry.objects.filter(event_type="PLUGIN_NOTIFICATION_FAILED").order_by("id")
    ]


def test_a_registration_reaches_every_plugin_after_commit(world, plugin, django_capture_on_commit_callbacks):
    first, second = plugin(Listener(), "first"), plugin(Listener(), "second")

    with django_capture_on_commit_callbacks(execute=True):
        version = make_version(model=world.model_b, actor=world.ci_b)

    entry = AuditEntry.objects.get(event_type="MODEL_VERSION_REGISTERED", subject_id=str(version.pk))
    expected = ModelVersionRegistered(
        model="model-b",
        version=version.version,
        artifact_digest=version.artifact_digest,
        registered_by="ci-b",
        audit_entry_id=entry.pk,
    )
    assert first.events == second.events == [expected]
    assert failures() == []


def test_a_failing_registration_plugin_is_recorded_and_the_version_stays(
    world, plugin, django_capture_on_commit_callbacks
):
    plugin(Listener(ConnectionError("catalogue down")), "catalogue")
    recording = plugin(Listener(), "recorder")

    with django_capture_on_commit_callbacks(execute=True):
        version = make_version(model=world.model_b, actor=world.ci_b)

    assert ModelVersion.objects.filter(pk=version.pk).exists()
    assert len(recording.events) == 1
    assert failures() == [
        (
            "system",
            "registry.ModelVersion",
            str(version.pk),
            {
                "plugin": "catalogue",
                "hook": "modelgov_model_version_registered",
                "error": "ConnectionError: catalogue down",
            },
        )
    ]


def test_a_final_approval_decision_reaches_the_plugins_and_a_failure_is_recorded(
    world, plugin, django_capture_on_commit_callbacks
):
    failing = plugin(Listener(RuntimeError("ticket system down")), "tickets")
    recording = plugin(Listener(), "recorder")

    with django_capture_on_commit_callbacks(execute=True):
        request = approve_promotion(
            version=world.version_b1, stage="production", requester=world.ci_b, approvers=[world.validator]
        )

    entry = AuditEntry.objects.get(  # the request's move to its final state
        event_type="APPROVAL_STATE_CHANGED", subject_id=str(request.pk), after__state="approved"
    )
    expected = ApprovalDecided(
        request_id=request.pk,
        model="model-b",
        version=1,
        target_stage="production",
        state="approved",
        decided_by=world.validator.get_username(),
        audit_entry_id=entry.pk,
    )
    assert failing.events == recording.events == [expected]
    assert ApprovalRequest.objects.get(pk=request.pk).state == "approved"
    assert failures() == [
        (
            "system",
            "governance.ApprovalRequest",
            str(request.pk),
            {"plugin": "tickets", "hook": "modelgov_approval_decided", "error": "RuntimeError: ticket system down"},
        )
    ]

"""Notification hooks: run after commit in Celery; a failing plugin is recorded, never rolled back
into the governance write that caused the notification."""

import dataclasses
import logging
from typing import Any

from django.apps import apps

from core.transaction import after_commit
from governance.audit.services import audit_record
from governance.choices import AuditEvent
from hooks import events
from hooks.manager import get_plugin_manager

logger = logging.getLogger(__name__)

EVENT_TYPES: dict[str, type] = {
    "modelgov_model_version_registered": events.ModelVersionRegistered,
    "modelgov_approval_decided": events.ApprovalDecided,
    "modelgov_gate_decided": events.GateDecided,
}


def notify_after_commit(*, hook: str, event: Any, subject: Any) -> None:
    """Queue ``hook(event=...)`` for every plugin once the current transaction commits; nothing when
    no plugin implements the hook (the worker loads the same plugins from the same settings and entry
    points, so its task would call nobody)."""
    from governance.tasks import plugin_notify_task

    if not _implementations(hook):
        return
    after_commit(plugin_notify_task.delay, hook, dataclasses.asdict(event), subject._meta.label, str(subject.pk))


def _implementations(hook: str) -> list[Any]:
    return list(getattr(get_plugin_manager().hook, hook).get_hookimpls())


def plugins_notify(*, hook: str, payload: dict[str, Any], subject_label: str, subject_pk: str) -> list[str]:
    """Call every implementation of a notification hook, each on its own; returns the plugins that
    failed, after logging each failure in the audit log."""
    event = EVENT_TYPES[hook](
        **{key: tuple(value) if isinstance(value, list) else value for key, value in payload.items()}
    )
    failed = []
    for impl in _implementations(hook):
        try:
            impl.function(event=event)
        except Exception as exc:  # a plugin's failure is recorded, never propagated into governance
            logger.exception("plugin %s failed on %s", impl.plugin_name, hook)
            failed.append(impl.plugin_name)
            subject = apps.get_model(subject_label).objects.get(pk=subject_pk)
            audit_record(
                actor=None,
                event_type=AuditEvent.PLUGIN_NOTIFICATION_FAILED,
                subject=subject,
                model_name=payload.get("model", ""),
                after={"plugin": impl.plugin_name, "hook": hook, "error": f"{type(exc).__name__}: {exc}"[:500]},
                standalone=True,
            )
    return failed

"""The hook specifications of modelgov (pluggy project ``modelgov``).

Every hookspec takes keyword arguments only, receives frozen dataclasses from hooks.events and says
when it fires, what it returns and its result mode. docs/hooks.md documents each of them; a test
fails when one is missing there.
"""

import pluggy

from hooks.events import (
    ApprovalDecided,
    CardContext,
    CardSection,
    CheckResult,
    GateContext,
    GateDecided,
    ModelVersionRegistered,
    SignedPayload,
)

PROJECT = "modelgov"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def modelgov_gate_checks(context: GateContext) -> list[CheckResult]:
    """Vote on a promotion.

    Fires: for every gate evaluation (``POST /api/v1/gate/promotions``), inside the request, before
    the decision is signed. Returns: a list of CheckResult; every plugin's list is collected (not
    firstresult). Any ``fail`` or ``error`` makes the decision a deny; a plugin that raises (or
    answers with a built-in's name, or details that are not JSON) is recorded as an ``error`` vote
    named ``plugin:<name>``, so a broken plugin never allows. Each plugin gets its own copy of the
    context; the built-in checks run first, on the gate's own.
    """
    raise NotImplementedError


@hookspec
def modelgov_model_version_registered(event: ModelVersionRegistered) -> None:
    """Notification: a model version was registered.

    Fires: after the registration committed, in a Celery task. Returns nothing; an exception is
    recorded in the audit log (PLUGIN_NOTIFICATION_FAILED) and never rolls the registration back.
    """


@hookspec
def modelgov_approval_decided(event: ApprovalDecided) -> None:
    """Notification: an approval request reached a final state (approved, approved with
    conditions, rejected).

    Fires: after the decision committed, in a Celery task. Returns nothing; failures are recorded,
    never rolled back into the decision.
    """


@hookspec
def modelgov_gate_decided(event: GateDecided) -> None:
    """Notification: the gate decided (allow or deny).

    Fires: after the decision committed, in a Celery task. Returns nothing; failures are recorded.
    """


@hookspec(firstresult=True)
def modelgov_model_card_sections(context: CardContext) -> list[CardSection] | None:
    """Provider: extra model-card sections.

    Fires: when a model card is generated. Returns: a list of CardSection, or None to let the next
    provider answer (firstresult: the first non-None answer wins).
    """


@hookspec(firstresult=True)
def modelgov_sign_payload(payload: bytes, purpose: str) -> SignedPayload | None:
    """Provider: sign ``payload`` (DSSE pre-authentication bytes) for ``purpose`` (``gate_decision``:
    the only purpose the service asks for; countersignatures and checkpoints use the key files).

    Fires: whenever the service signs a decision or record. Returns: SignedPayload, or None to let
    the next signer answer (firstresult). The built-in signer (trylast) uses the key file; a KMS or
    HSM plugin answers first and replaces it. Verification keys are published at /api/v1/keys/.
    """

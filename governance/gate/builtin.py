"""Built-in plugins: the gate's own checks and the file-key signer, registered like any plugin
(hooks.manager). The gate runs its own checks first, on its own context, whatever the plugins'
order (governance.gate.services); they cannot be blocklisted. The signer is trylast, so that a KMS
or HSM plugin answers first."""

from core.signing import KeyPurpose, service_key_id, service_private_key
from hooks.events import CheckResult, GateContext, SignedPayload
from hooks.specs import hookimpl


class BuiltinGateChecks:
    """signature_valid, digest_matches, signing_key_active, approvals_complete."""

    @hookimpl(trylast=True)
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        return [
            self._signature_valid(context),
            self._digest_matches(context),
            self._signing_key_active(context),
            self._approvals_complete(context),
        ]

    def _signature_valid(self, context: GateContext) -> CheckResult:
        failed = [name for name in ("producer_signature", "countersignature") if not context.signature_checks.get(name)]
        if failed:
            return CheckResult(
                "signature_valid",
                "fail",
                "signature_invalid",
                {"failed": failed, "reasons": {name: context.signature_reasons.get(name, "") for name in failed}},
            )
        return CheckResult("signature_valid", "pass", "ok", {"signing_key": context.signing_key_fingerprint})

    def _digest_matches(self, context: GateContext) -> CheckResult:
        details = {"requested": context.requested_digest, "registered": context.registered_digest}
        if not context.signature_checks.get("digest"):
            return CheckResult("digest_matches", "fail", "manifest_digest_invalid", details)
        if context.requested_digest != context.registered_digest:
            return CheckResult("digest_matches", "fail", "digest_mismatch", details)
        return CheckResult("digest_matches", "pass", "ok", details)

    def _signing_key_active(self, context: GateContext) -> CheckResult:
        details = {"signing_key": context.signing_key_fingerprint}
        if not context.signing_key_active:
            return CheckResult("signing_key_active", "fail", "signing_key_revoked", details)
        return CheckResult("signing_key_active", "pass", "ok", details)

    def _approvals_complete(self, context: GateContext) -> CheckResult:
        approval = context.approval
        if approval.get("approved"):
            return CheckResult("approvals_complete", "pass", "ok", approval)
        return CheckResult("approvals_complete", "fail", str(approval.get("reason", "not_approved")), approval)


class FileKeySigner:
    """Signs with the service's key files; a KMS/HSM plugin answering first replaces it."""

    @hookimpl(trylast=True)
    def modelgov_sign_payload(self, payload: bytes, purpose: str) -> SignedPayload:
        key = service_private_key(KeyPurpose(purpose))
        return SignedPayload(signature=key.sign(payload), keyid=service_key_id(KeyPurpose(purpose)))


GATE_CHECKS = BuiltinGateChecks()
GATE_CHECKS_NAME = "builtin-gate-checks"
BUILTIN_PLUGINS = [(GATE_CHECKS_NAME, GATE_CHECKS), ("builtin-file-signer", FileKeySigner())]

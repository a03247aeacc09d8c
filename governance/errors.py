"""Errors of the governance app; their codes are listed in docs/api-errors.md."""

from core.errors import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed


class AuditOutsideTransaction(ApplicationError):
    """A programming error: an audit entry must be written in the transaction of its change."""

    code = "audit_outside_transaction"
    status = 500


class UnknownUser(ValidationFailed):
    code = "unknown_user"


class CheckpointInconsistent(ApplicationError):
    """The tree does not extend the last signed checkpoint: tampering or a fork. Nothing is signed."""

    code = "checkpoint_inconsistent"
    status = 500


class TreeSizeOutOfRange(ValidationFailed):
    code = "tree_size_out_of_range"


class EntryNotIntegrated(ApplicationError):
    code = "entry_not_integrated"
    status = 409


class NoCheckpoint(ApplicationError):
    code = "no_checkpoint"
    status = 404


class InvalidTransition(Conflict):
    code = "invalid_transition"


class DuplicateRequest(Conflict):
    code = "duplicate_request"


class NoPolicy(ValidationFailed):
    code = "no_policy"


class InvalidStage(ValidationFailed):
    code = "invalid_stage"


class CommentRequired(ValidationFailed):
    code = "comment_required"


class ConditionsRequired(ValidationFailed):
    code = "conditions_required"


class SeparationOfDuties(PermissionDenied):
    code = "separation_of_duties"


class ApprovalNotFound(NotFound):
    code = "approval_not_found"


class InvalidPolicy(ValidationFailed):
    code = "invalid_policy"

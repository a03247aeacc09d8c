"""Governance: the audit log, API tokens and roles; later approvals, fairness, the gate and cards."""

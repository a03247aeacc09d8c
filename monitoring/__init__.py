"""Monitoring: drift profiles and reports, SLOs, SLI windows and error budgets (later issues)."""

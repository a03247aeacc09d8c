"""Approval workflows: versioned policies, requests bound to a digest, separation of duties, emails."""

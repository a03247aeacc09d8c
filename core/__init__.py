"""Shared plumbing with no business rules: base model, errors, pagination, middleware, canonical JSON."""

"""The promotion gate: every check votes, deny wins, the decision is signed and logged."""

"""The transparency log: RFC 6962 Merkle tree over the audit entries, signed checkpoints, proofs."""

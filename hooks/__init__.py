"""Client side of modelgov (importable without Django): manifests, and later the client and CLI."""

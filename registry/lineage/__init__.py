"""The lineage graph: OpenLineage ingestion, graph and impact queries, approval-time snapshots."""

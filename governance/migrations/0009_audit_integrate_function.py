"""The integrator on PostgreSQL as one function: a batch of the queue integrated in one statement.

``mg_audit_integrate(lock_key, batch_size, wait, asynchronous)`` takes the integrator's advisory lock
for its transaction (or returns no row when ``wait`` is false and another integrator holds it), then,
each statement with a snapshot taken after the lock: reads the tree size and the perfect subtrees on
its right edge, takes the oldest ``batch_size`` entries off the queue (in entry-id order), gives them
the next seqs, and stores their leaves and every subtree they complete (RFC 9162: a node is
SHA-256(0x01 || left || right)). It returns the tree size after the batch, how many it placed, the size
of the latest checkpoint, and the entry ids with their seqs. Called in autocommit, the whole
integration is one round trip; inside a transaction it joins it (the lock is re-entrant).

It runs with the caller's rights (SECURITY INVOKER): the service's role needs only what the Python
integrator needs (INSERT on the leaf and node tables, DELETE on the queue). On SQLite (the demo)
the Python integrator runs plain statements instead; a test holds the two to the same tree.
"""

from typing import Any

from django.db import migrations

FUNCTION = r"""
CREATE FUNCTION mg_audit_integrate(lock_key bigint, batch_size integer, wait boolean, asynchronous boolean)
RETURNS TABLE (tree_size bigint, added integer, checkpoint_size bigint, entry_ids bigint[], seqs bigint[])
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
    start_size bigint;
    missing_level integer;
    stack_levels integer[] := '{}';
    stack_hashes bytea[] := '{}';
    taken_ids bigint[];
    taken_hashes bytea[];
    taken integer;
    leaf_seqs bigint[] := '{}';
    node_levels integer[] := '{}';
    node_indexes bigint[] := '{}';
    node_hashes bytea[] := '{}';
    at_index bigint;
    top integer;
    merged bytea;
    merged_level integer;
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(lock_key);
    ELSIF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RETURN;
    END IF;
    IF asynchronous THEN
        -- Derived data: the entries and their queue rows were committed durably by their writers.
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;

    SELECT COALESCE(MAX(l.seq) + 1, 0) INTO start_size FROM governance_auditleaf l;
    -- The right edge: one perfect subtree per bit of the size, largest (leftmost) first.
    SELECT COALESCE(array_agg(e.lvl ORDER BY e.lvl DESC), '{}'), COALESCE(array_agg(h.hash ORDER BY e.lvl DESC), '{}'),
           (array_agg(e.lvl ORDER BY e.lvl DESC) FILTER (WHERE h.hash IS NULL))[1]
      INTO stack_levels, stack_hashes, missing_level
      FROM (SELECT g AS lvl, (start_size >> g) - 1 AS idx FROM generate_series(0, 62) g
             WHERE (start_size >> g) & 1 = 1) e
      LEFT JOIN LATERAL (
            SELECT n.hash FROM governance_audittreenode n WHERE e.lvl > 0 AND n.level = e.lvl AND n."index" = e.idx
            UNION ALL
            SELECT l.leaf_hash FROM governance_auditleaf l WHERE e.lvl = 0 AND l.seq = e.idx
      ) h ON true;
    IF missing_level IS NOT NULL THEN
        RAISE EXCEPTION 'audit tree: no stored hash at level %, index %', missing_level,
            (start_size >> missing_level) - 1 USING ERRCODE = 'data_corrupted';
    END IF;

    WITH batch AS (
        DELETE FROM governance_auditpending p
         WHERE p.entry_id IN (SELECT q.entry_id FROM governance_auditpending q ORDER BY q.entry_id LIMIT batch_size)
        RETURNING p.entry_id, p.leaf_hash
    )
    SELECT array_agg(b.entry_id ORDER BY b.entry_id), array_agg(b.leaf_hash ORDER BY b.entry_id)
      INTO taken_ids, taken_hashes FROM batch b;
    taken := COALESCE(array_length(taken_ids, 1), 0);

    FOR i IN 1..taken LOOP
        at_index := start_size + i - 1;
        leaf_seqs := leaf_seqs || at_index;
        stack_levels := stack_levels || 0;
        stack_hashes := stack_hashes || taken_hashes[i];
        top := array_length(stack_levels, 1);
        WHILE top >= 2 AND stack_levels[top] = stack_levels[top - 1] LOOP
            merged := sha256('\x01'::bytea || stack_hashes[top - 1] || stack_hashes[top]);
            merged_level := stack_levels[top] + 1;
            node_levels := node_levels || merged_level;
            node_indexes := node_indexes || (at_index >> merged_level);
            node_hashes := node_hashes || merged;
            stack_levels := stack_levels[1:top - 2] || merged_level;
            stack_hashes := stack_hashes[1:top - 2] || merged;
            top := top - 1;
        END LOOP;
    END LOOP;

    IF taken > 0 THEN
        INSERT INTO governance_auditleaf (seq, entry_id, leaf_hash)
        SELECT * FROM unnest(leaf_seqs, taken_ids, taken_hashes);
        INSERT INTO governance_audittreenode (level, "index", hash)
        SELECT * FROM unnest(node_levels, node_indexes, node_hashes);
    END IF;
    RETURN QUERY SELECT start_size + taken, taken,
        (SELECT c.size FROM governance_auditcheckpoint c ORDER BY c.id DESC LIMIT 1)::bigint,
        COALESCE(taken_ids, '{}'), leaf_seqs;
END
$$
"""


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS mg_audit_integrate(bigint, integer, boolean, boolean)")


class Migration(migrations.Migration):
    dependencies = [("governance", "0008_audit_write_path_indexes")]

    operations = [migrations.RunPython(create, drop)]

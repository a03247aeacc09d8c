"""The integrator stops a batch where the next checkpoint falls due.

``mg_audit_integrate`` gains ``checkpoint_every``: with a value above 0 it reads the tree size and the
latest checkpoint's size before it takes the batch, and takes at most what fills the log up to the next
checkpoint (nothing when one is due already), so the caller signs a checkpoint at least every
``checkpoint_every`` entries, as REGULATORY.md and the issue ask, instead of once after a batch of up
to 5,000. With 0 it behaves as before. The previous four-argument function is dropped (a new argument
is a new function to PostgreSQL); ``grant_app_role`` grants EXECUTE on this one.
"""

import importlib
from typing import Any

from django.db import migrations

previous = importlib.import_module("governance.migrations.0011_audit_integrate_fewer_statements")

FUNCTION = r"""CREATE FUNCTION mg_audit_integrate(
    lock_key bigint, batch_size integer, wait boolean, asynchronous boolean, checkpoint_every integer
)
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
    unused text;
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(lock_key);
    ELSIF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RETURN;
    END IF;
    IF asynchronous THEN
        -- Derived data: the entries and their queue rows were committed durably by their writers.
        unused := set_config('synchronous_commit', 'off', true);
    END IF;

    -- The sizes first: with checkpoint_every > 0 the batch stops where the next checkpoint falls due
    -- (none when one is due already), so that the caller can sign one every checkpoint_every entries.
    SELECT COALESCE(MAX(l.seq) + 1, 0), (SELECT c.size FROM governance_auditcheckpoint c ORDER BY c.id DESC LIMIT 1)
      INTO start_size, checkpoint_size FROM governance_auditleaf l;
    IF checkpoint_every > 0 THEN
        batch_size := LEAST(batch_size, GREATEST(checkpoint_every - (start_size - COALESCE(checkpoint_size, 0)), 0));
    END IF;
    -- The batch, by row address in entry-id order: an index scan, where a join would read the queue's
    -- whole heap, dead rows included.
    WITH batch AS (
        DELETE FROM governance_auditpending p
         WHERE p.ctid = ANY (ARRAY(SELECT q.ctid FROM governance_auditpending q ORDER BY q.entry_id LIMIT batch_size))
        RETURNING p.entry_id, p.leaf_hash
    )
    SELECT array_agg(b.entry_id ORDER BY b.entry_id), array_agg(b.leaf_hash ORDER BY b.entry_id)
      INTO taken_ids, taken_hashes FROM batch b;
    taken := COALESCE(array_length(taken_ids, 1), 0);

    IF taken > 0 THEN
        -- The perfect subtrees on the right edge that the batch merges into: level L (a set bit of the
        -- size) is the left sibling of the subtree the batch fills at that level, if it fills it.
        SELECT COALESCE(array_agg(e.lvl ORDER BY e.lvl DESC), '{}'),
               COALESCE(array_agg(h.hash ORDER BY e.lvl DESC), '{}'),
               (array_agg(e.lvl ORDER BY e.lvl DESC) FILTER (WHERE h.hash IS NULL))[1]
          INTO stack_levels, stack_hashes, missing_level
          FROM (SELECT g AS lvl, (start_size >> g) - 1 AS idx FROM generate_series(0, 62) g
                 WHERE (start_size >> g) & 1 = 1 AND start_size + taken >= ((start_size >> g) + 1) << g) e
          LEFT JOIN LATERAL (
                SELECT n.hash FROM governance_audittreenode n WHERE e.lvl > 0 AND n.level = e.lvl AND n."index" = e.idx
                UNION ALL
                SELECT l.leaf_hash FROM governance_auditleaf l WHERE e.lvl = 0 AND l.seq = e.idx
          ) h ON true;
        IF missing_level IS NOT NULL THEN
            RAISE EXCEPTION 'audit tree: no stored hash at level %, index %', missing_level,
                (start_size >> missing_level) - 1 USING ERRCODE = 'data_corrupted';
        END IF;
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
        INSERT INTO governance_auditleaf (seq, entry_id, leaf_hash)
        SELECT * FROM unnest(leaf_seqs, taken_ids, taken_hashes);
        INSERT INTO governance_audittreenode (level, "index", hash)
        SELECT * FROM unnest(node_levels, node_indexes, node_hashes);
    END IF;
    tree_size := start_size + taken;
    added := taken;
    entry_ids := COALESCE(taken_ids, '{}');
    seqs := leaf_seqs;
    RETURN NEXT;
END
$$
"""

OLD_SIGNATURE = "mg_audit_integrate(bigint, integer, boolean, boolean)"
NEW_SIGNATURE = "mg_audit_integrate(bigint, integer, boolean, boolean, integer)"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE}")
        schema_editor.execute(FUNCTION, params=None)


def restore(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {NEW_SIGNATURE}")
        schema_editor.execute(previous.FUNCTION.replace("CREATE OR REPLACE FUNCTION", "CREATE FUNCTION", 1), params=None)


class Migration(migrations.Migration):
    dependencies = [("governance", "0011_audit_integrate_fewer_statements")]

    operations = [migrations.RunPython(create, restore)]

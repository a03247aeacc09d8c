"""SQL for the database-level guarantees that migrations install.

PostgreSQL: one function ``modelgov_reject_change()`` raises on any row or statement it guards;
append-only tables get BEFORE UPDATE/DELETE row triggers and a BEFORE TRUNCATE statement trigger,
all ``ENABLE ALWAYS`` so that ``session_replication_role = replica`` does not switch them off.
SQLite (demo only): BEFORE UPDATE/DELETE triggers that abort.
"""

from typing import Any

PG_REJECT_FUNCTION = """
CREATE OR REPLACE FUNCTION modelgov_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'modelgov: % on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def append_only_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        row, stmt = f"{table}_append_only_row", f"{table}_append_only_truncate"
        return [
            PG_REJECT_FUNCTION,
            f'CREATE TRIGGER "{row}" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION modelgov_reject_change()",
            f'CREATE TRIGGER "{stmt}" BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION modelgov_reject_change()",
            f'ALTER TABLE "{table}" ENABLE ALWAYS TRIGGER "{row}"',
            f'ALTER TABLE "{table}" ENABLE ALWAYS TRIGGER "{stmt}"',
        ]
    if vendor == "sqlite":
        return [
            f'CREATE TRIGGER "{table}_no_update" BEFORE UPDATE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'modelgov: UPDATE on {table} is not allowed: the table is append-only'); END",
            f'CREATE TRIGGER "{table}_no_delete" BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'modelgov: DELETE on {table} is not allowed: the table is append-only'); END",
        ]
    raise NotImplementedError(f"append-only tables are not implemented for {vendor}")


def run_vendor_sql(builder: Any, *args: Any) -> Any:
    """A RunPython forward function that executes ``builder(vendor, *args)``."""

    def forward(apps: Any, schema_editor: Any) -> None:
        for statement in builder(schema_editor.connection.vendor, *args):
            schema_editor.execute(statement, params=None)

    return forward

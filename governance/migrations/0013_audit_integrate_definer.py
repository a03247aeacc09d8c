"""The integrator runs with its owner's rights, so the service's role needs no DELETE on the queue.

With DELETE on ``governance_auditpending`` the app role could take a committed entry off the queue,
and the entry would never get a seq (``verify_audit_log`` names such an entry, code dequeued_entry,
but better that the role cannot). ``mg_audit_integrate`` becomes SECURITY DEFINER: it dequeues as the
schema owner, and ``grant_app_role`` grants the app role only SELECT and INSERT on the queue, and
EXECUTE on the function (PUBLIC's default EXECUTE is revoked: running it is a privilege now). Its search path is fixed to the schema it was created in, then ``pg_temp``
(last: a temporary table of the caller's cannot stand in for one of the log's).
"""

from typing import Any

from django.db import migrations

SIGNATURE = "mg_audit_integrate(bigint, integer, boolean, boolean, integer)"


def definer(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        schema = cursor.fetchone()[0]
    schema_editor.execute(f"ALTER FUNCTION {SIGNATURE} SECURITY DEFINER SET search_path = {schema}, pg_temp")
    # With the owner's rights, running it is a privilege: only roles granted EXECUTE (grant_app_role).
    schema_editor.execute(f"REVOKE EXECUTE ON FUNCTION {SIGNATURE} FROM PUBLIC")


def invoker(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER FUNCTION {SIGNATURE} SECURITY INVOKER RESET search_path")
        schema_editor.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO PUBLIC")


class Migration(migrations.Migration):
    dependencies = [("governance", "0012_audit_integrate_checkpoint_cadence")]

    operations = [migrations.RunPython(definer, invoker)]

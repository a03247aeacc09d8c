from django.db import migrations

from core.dbtriggers import append_only_sql, run_vendor_sql


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_lineage")]

    # Raw events and approval-time snapshots are evidence: append-only like the audit log.
    operations = [
        migrations.RunPython(run_vendor_sql(append_only_sql, table), migrations.RunPython.noop)
        for table in ("registry_lineageevent", "registry_lineagesnapshot")
    ]

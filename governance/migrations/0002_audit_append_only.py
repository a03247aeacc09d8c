from django.db import migrations

from core.dbtriggers import append_only_sql, run_vendor_sql


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [
        migrations.RunPython(run_vendor_sql(append_only_sql, table), migrations.RunPython.noop)
        for table in (
            "governance_auditentry",
            "governance_auditleaf",
            "governance_audittreenode",
            "governance_auditcheckpoint",
        )
    ]

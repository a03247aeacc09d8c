from django.contrib.auth.management import create_permissions
from django.db import migrations

# Pipelines send lineage; officers may too. Everyone who views models may query the graph.
ROLE_PERMISSIONS = {
    "ci_pipeline": ["add_lineageevent"],
    "model_owner": ["add_lineageevent"],
    "compliance_officer": ["add_lineageevent", "view_lineageevent", "view_lineagenode", "view_deployment"],
    "auditor": ["view_lineageevent", "view_lineagenode", "view_deployment"],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="registry", codename=codename))


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_lineage_append_only"), ("governance", "0003_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

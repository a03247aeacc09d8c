from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "compliance_officer": [
        "add_approvalpolicy",
        "change_approvalpolicy",
        "view_approvalpolicy",
        "view_approvalrequest",
        "change_approvalrequest",
        "view_approvaldecision",
        "view_emaildelivery",
    ],
    "validator": ["view_approvalrequest", "change_approvalrequest", "view_approvalpolicy"],
    "auditor": ["view_approvalpolicy", "view_approvalrequest", "view_approvaldecision", "view_emaildelivery"],
    "model_owner": ["view_approvalrequest"],
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
            group.permissions.add(Permission.objects.get(content_type__app_label="governance", codename=codename))


class Migration(migrations.Migration):
    dependencies = [("governance", "0005_default_policies")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

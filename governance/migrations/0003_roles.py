from django.contrib.auth.management import create_permissions
from django.db import migrations

# Global permissions per role; object permissions on single models are granted by the services.
ROLE_PERMISSIONS = {
    "compliance_officer": [
        ("registry", "add_registeredmodel"),
        ("registry", "view_registeredmodel"),
        ("registry", "change_registeredmodel"),
        ("registry", "view_modelversion"),
        ("governance", "view_auditentry"),
        ("governance", "view_apitoken"),
        ("governance", "change_apitoken"),
        ("registry", "add_signingkey"),
        ("registry", "change_signingkey"),
        ("registry", "view_signingkey"),
        ("governance", "add_auditcheckpoint"),
    ],
    "auditor": [
        ("registry", "view_registeredmodel"),
        ("registry", "view_modelversion"),
        ("governance", "view_auditentry"),
    ],
    "model_owner": [
        ("registry", "add_registeredmodel"),
        ("registry", "add_signingkey"),
        ("registry", "change_signingkey"),
    ],
    "validator": [],
    "ci_pipeline": [],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so roles can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_audit_append_only"),
        ("registry", "0002_version_immutable"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]

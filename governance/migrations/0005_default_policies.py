from django.db import migrations

# Seeded defaults (compliance officers edit them in the admin, which creates new versions).
DEFAULTS = {
    "high": (
        [
            {"name": "Independent validation", "role": "validator", "quorum": 2},
            {"name": "Compliance sign-off", "role": "compliance_officer", "quorum": 1},
        ],
        180,
    ),
    "medium": (
        [
            {"name": "Independent validation", "role": "validator", "quorum": 1},
            {"name": "Compliance sign-off", "role": "compliance_officer", "quorum": 1},
        ],
        365,
    ),
    "low": ([{"name": "Independent validation", "role": "validator", "quorum": 1}], 730),
}


def seed(apps, schema_editor):
    ApprovalPolicy = apps.get_model("governance", "ApprovalPolicy")
    for tier, (steps, days) in DEFAULTS.items():
        for stage in ("staging", "production"):
            ApprovalPolicy.objects.get_or_create(
                risk_tier=tier,
                target_stage=stage,
                version=1,
                defaults={"steps": steps, "approval_lifetime_days": days, "is_current": True},
            )


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_approvals")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

from django.db import migrations

from core.dbtriggers import run_vendor_sql

_GUARDED = (
    "manifest",
    "artifact_digest",
    "created_by_id",
    "model_id",
    "version",
    "producer_signature",
    "signing_key_id",
    "countersignature",
    "countersignature_sha256",
)


def immutable_version_sql(vendor: str) -> list[str]:
    """A version's identity (manifest, digest, number, model, creator) never changes after
    registration, and a version row is never deleted; its stage may change."""
    if vendor == "postgresql":
        changed = " OR ".join(f"NEW.{col} IS DISTINCT FROM OLD.{col}" for col in _GUARDED)
        return [
            f"""
            CREATE OR REPLACE FUNCTION modelgov_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'modelgov: a registered model version is never deleted'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF {changed} THEN
                    RAISE EXCEPTION 'modelgov: a registered version''s manifest, digest, number and creator never change'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END
            $$;
            """,
            'CREATE TRIGGER "registry_modelversion_immutable" BEFORE UPDATE OR DELETE ON "registry_modelversion" '
            "FOR EACH ROW EXECUTE FUNCTION modelgov_version_immutable()",
            'ALTER TABLE "registry_modelversion" ENABLE ALWAYS TRIGGER "registry_modelversion_immutable"',
        ]
    if vendor == "sqlite":
        changed = " OR ".join(f"NEW.{col} IS NOT OLD.{col}" for col in _GUARDED)
        return [
            'CREATE TRIGGER "registry_modelversion_immutable" BEFORE UPDATE ON "registry_modelversion" '
            f"WHEN {changed} BEGIN SELECT RAISE(ABORT, "
            "'modelgov: a registered version''s manifest, digest, number and creator never change'); END",
            'CREATE TRIGGER "registry_modelversion_no_delete" BEFORE DELETE ON "registry_modelversion" '
            "BEGIN SELECT RAISE(ABORT, 'modelgov: a registered model version is never deleted'); END",
        ]
    raise NotImplementedError(vendor)


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [migrations.RunPython(run_vendor_sql(immutable_version_sql), migrations.RunPython.noop)]

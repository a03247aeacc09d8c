from django.db import migrations

from core.dbtriggers import run_vendor_sql

# What identifies a key and who registered it: never changes after registration.
_IDENTITY = ("public_key_pem", "fingerprint", "algorithm", "team_id", "created_by_id", "created_at")
# The revocation: written once (the revoke), then final.
_REVOCATION = ("revoked_at", "revoked_by_id", "revocation_reason")

IDENTITY_MESSAGE = "modelgov: a signing key's public key, fingerprint, algorithm, team and creator never change"
REVOCATION_MESSAGE = "modelgov: a signing key's revocation is final"
DELETE_MESSAGE = "modelgov: a signing key is never deleted; revoke it"


def _literal(text: str) -> str:
    """``text`` as an SQL string literal (the messages are ours; quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def signing_key_guard_sql(vendor: str) -> list[str]:
    """A producer key's identity never changes and a key row is never deleted: what it signed stays
    verifiable with the key it was checked against. Its revocation may be set once and is then final.
    The app role may UPDATE this table (grant_app_role); these triggers hold for it and for the owner."""
    if vendor == "postgresql":
        changed = " OR ".join(f"NEW.{col} IS DISTINCT FROM OLD.{col}" for col in _IDENTITY)
        unrevoked = " OR ".join(f"NEW.{col} IS DISTINCT FROM OLD.{col}" for col in _REVOCATION)
        return [
            f"""
            CREATE OR REPLACE FUNCTION modelgov_signingkey_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION {_literal(DELETE_MESSAGE)}
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF {changed} THEN
                    RAISE EXCEPTION {_literal(IDENTITY_MESSAGE)}
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF OLD.revoked_at IS NOT NULL AND ({unrevoked}) THEN
                    RAISE EXCEPTION {_literal(REVOCATION_MESSAGE)}
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END
            $$;
            """,
            'CREATE TRIGGER "registry_signingkey_guard_update" BEFORE UPDATE ON "registry_signingkey" '
            "FOR EACH ROW EXECUTE FUNCTION modelgov_signingkey_guard()",
            'CREATE TRIGGER "registry_signingkey_guard_delete" BEFORE DELETE ON "registry_signingkey" '
            "FOR EACH ROW EXECUTE FUNCTION modelgov_signingkey_guard()",
            # ALWAYS: session_replication_role = replica does not switch them off.
            'ALTER TABLE "registry_signingkey" ENABLE ALWAYS TRIGGER "registry_signingkey_guard_update"',
            'ALTER TABLE "registry_signingkey" ENABLE ALWAYS TRIGGER "registry_signingkey_guard_delete"',
        ]
    if vendor == "sqlite":
        changed = " OR ".join(f"NEW.{col} IS NOT OLD.{col}" for col in _IDENTITY)
        unrevoked = " OR ".join(f"NEW.{col} IS NOT OLD.{col}" for col in _REVOCATION)
        return [
            'CREATE TRIGGER "registry_signingkey_identity" BEFORE UPDATE ON "registry_signingkey" '
            f"WHEN {changed} BEGIN SELECT RAISE(ABORT, {_literal(IDENTITY_MESSAGE)}); END",
            'CREATE TRIGGER "registry_signingkey_revocation" BEFORE UPDATE ON "registry_signingkey" '
            f"WHEN OLD.revoked_at IS NOT NULL AND ({unrevoked}) "
            f"BEGIN SELECT RAISE(ABORT, {_literal(REVOCATION_MESSAGE)}); END",
            'CREATE TRIGGER "registry_signingkey_no_delete" BEFORE DELETE ON "registry_signingkey" '
            f"BEGIN SELECT RAISE(ABORT, {_literal(DELETE_MESSAGE)}); END",
        ]
    raise NotImplementedError(vendor)


def drop_signing_key_guard_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            'DROP TRIGGER IF EXISTS "registry_signingkey_guard_update" ON "registry_signingkey"',
            'DROP TRIGGER IF EXISTS "registry_signingkey_guard_delete" ON "registry_signingkey"',
            "DROP FUNCTION IF EXISTS modelgov_signingkey_guard()",
        ]
    if vendor == "sqlite":
        return [
            f'DROP TRIGGER IF EXISTS "{name}"'
            for name in ("registry_signingkey_identity", "registry_signingkey_revocation", "registry_signingkey_no_delete")
        ]
    raise NotImplementedError(vendor)


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_lineage_edge_covering_index")]

    operations = [
        migrations.RunPython(run_vendor_sql(signing_key_guard_sql), run_vendor_sql(drop_signing_key_guard_sql)),
    ]

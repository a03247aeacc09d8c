"""``make demo`` on the embedded default: a fresh SQLite file is migrated, keyed and seeded, the API
call the Makefile prints answers, and the demo pipeline's gate call is allowed and logged, with the
version read, the permission statements, the gate's reads and the audit log's integration as SQLite
runs them (the rest of the suite runs on PostgreSQL only)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
from django.test import Client
from registry.permissions import user_has_model_perm
from registry.choices import ModelPermission
from registry.models import RegisteredModel
from django.contrib.auth import get_user_model

response = Client().get(
    "/api/v1/models/credit-default-pd/versions/3",
    HTTP_AUTHORIZATION="Bearer mg_demo_compliance_officer_not_for_production",
)
print("status", response.status_code, response.json()["version"])
gate = Client().post(
    "/api/v1/gate/promotions",
    {
        "model": "credit-default-pd",
        "version": 3,
        "target_stage": "production",
        "artifact_digest": response.json()["artifact_digest"],
        "dry_run": True,
    },
    content_type="application/json",
    HTTP_AUTHORIZATION="Bearer mg_demo_ci_credit_risk_not_for_production",
)
answer = gate.json()
print("gate", gate.status_code, answer["decision"], [check["outcome"] for check in answer["checks"]],
      type(answer["audit_seq"]).__name__)
model = RegisteredModel.objects.get(name="credit-default-pd")
owner = model.owner
outsider = get_user_model().objects.create_user(username="demo-outsider")
print("perms", user_has_model_perm(owner, ModelPermission.REQUEST_PROMOTION, model),
      user_has_model_perm(outsider, ModelPermission.VIEW, model))
"""


def manage(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_the_demo_runs_on_a_fresh_sqlite_file(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        MODELGOV_KEY_DIR=str(tmp_path / "keys"),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
    )

    manage(env, "migrate", "--noinput")
    manage(env, "init_keys")
    seeded = manage(env, "seed_demo")
    checked = manage(env, "shell", "-c", CHECK)

    assert "created 11 users, 2 tokens, 7 models, 18 versions" in seeded
    assert "status 200 3" in checked
    assert "perms True False" in checked
    assert "gate 200 allow ['pass', 'pass', 'pass', 'pass'] int" in checked

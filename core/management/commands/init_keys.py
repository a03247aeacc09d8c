"""``manage.py init_keys``: create the service's missing Ed25519 keys (demo, first install)."""

from typing import Any

from django.core.management.base import BaseCommand

from core.signing import KeyPurpose, fingerprint, generate_missing_keys, service_public_key


class Command(BaseCommand):
    help = "Create any missing service signing key in MODELGOV_KEY_DIR; existing keys are kept."

    def handle(self, *args: Any, **options: Any) -> None:
        created = generate_missing_keys()
        for path in created:
            self.stdout.write(f"created {path.name}")
        for purpose in KeyPurpose:
            self.stdout.write(f"{purpose.value}: {fingerprint(service_public_key(purpose))}")

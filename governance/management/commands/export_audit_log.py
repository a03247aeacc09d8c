"""``manage.py export_audit_log [--from A] [--to B] OUTPUT``: write a verifiable export bundle."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance.audit.services import audit_log_export


class Command(BaseCommand):
    help = "Export audit entries with checkpoints and proofs, for offline verification (modelgov verify-log)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output", type=Path)
        parser.add_argument("--from", dest="start", type=int)
        parser.add_argument("--to", dest="end", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        bundle = audit_log_export(actor=None, start=options["start"], end=options["end"])
        options["output"].write_text(json.dumps(bundle, indent=1), encoding="utf-8")
        self.stdout.write(
            f"exported entries {bundle['from']}..{bundle['to']} with {len(bundle['checkpoints'])} checkpoints "
            f"to {options['output'].name}"
        )

"""``manage.py verify_audit_log [--checkpoint FILE]``: re-derive every leaf, node and root and check
every checkpoint; exit 1 naming the first bad seq."""

import base64
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit.services import audit_log_verified_record
from governance.audit.verification import LogInvalid, verify_database_log


class Command(BaseCommand):
    help = "Verify the whole audit log as stored: leaves, tree nodes, checkpoints and signatures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint", type=Path, help="a checkpoint note obtained earlier; the log must extend it"
        )
        parser.add_argument("--no-record", action="store_true", help="do not log the verification itself")

    def handle(self, *args: Any, **options: Any) -> None:
        known = options["checkpoint"].read_text(encoding="utf-8") if options["checkpoint"] else None
        try:
            report = verify_database_log(known_checkpoint=known)
        except LogInvalid as exc:
            where = f" (first bad seq: {exc.seq})" if exc.seq is not None else ""
            if not options["no_record"]:
                audit_log_verified_record(actor=None, result={"ok": False, "code": exc.code, "seq": exc.seq})
            raise CommandError(f"audit log INVALID [{exc.code}]{where}: {exc}", returncode=1) from None
        if not options["no_record"]:
            audit_log_verified_record(
                actor=None, result={"ok": True, "size": report.size, "checkpoints": report.checkpoints}
            )
        self.stdout.write(
            f"audit log OK: {report.size} entries, {report.checkpoints} checkpoints verified, "
            f"root {base64.b64encode(report.root).decode()}, {report.pending} entries pending integration"
        )

"""``manage.py integrate_audit_log [--follow] [--interval SECONDS]``: give pending audit entries their
seqs and tree nodes, once or continuously. Run with ``--follow`` as a service of its own (PostgreSQL),
and writers leave integration to it instead of integrating after each commit."""

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from governance.audit.services import audit_log_follow, audit_log_integrate


class Command(BaseCommand):
    help = "Integrate pending audit-log entries into the tree, once or (--follow) continuously."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--follow", action="store_true", help="keep integrating until stopped (SIGTERM, SIGINT)")
        parser.add_argument(
            "--interval",
            type=float,
            default=0.05,
            help="seconds between integrations (default 0.05: the longest an entry waits for its seq)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["follow"]:
            self.stdout.write(f"audit log integrated: size {audit_log_integrate(wait=True)}")
            return
        if connection.vendor != "postgresql":
            raise CommandError("--follow needs PostgreSQL; on SQLite every write integrates after its commit")
        if not 0 < options["interval"] <= 60:
            raise CommandError("--interval must be more than 0 and at most 60 seconds")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write("following the audit-log queue (a standby waits here while another follower runs)")
        audit_log_follow(interval=options["interval"], stop=stop)
        self.stdout.write("stopped")

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from governance import checks  # noqa: F401 (registers the database checks)
        from governance.audit.services import forget_placed

        # A flush (the tests) may restart the entry ids: what this process placed is no longer true.
        post_migrate.connect(forget_placed, dispatch_uid="governance.forget_placed")

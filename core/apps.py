from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core.prepared import forget_session

        # A new database session holds none of the statements core.prepared made in another one.
        connection_created.connect(forget_session, dispatch_uid="core.prepared.forget_session")

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from registry.permissions import forget_permission_ids

        # A migrate or a flush may recreate permissions and content types under new ids.
        post_migrate.connect(forget_permission_ids, dispatch_uid="registry.forget_permission_ids")

from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "hooks"
    verbose_name = "Plugin hooks"

    def ready(self) -> None:
        # Build the plugin manager at start-up: a misspelled hook or a broken entry point fails now.
        from hooks.manager import get_plugin_manager

        get_plugin_manager()

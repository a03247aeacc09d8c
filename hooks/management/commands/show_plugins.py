"""``manage.py show_plugins``: every registered plugin and the hooks it implements."""

from typing import Any

from django.core.management.base import BaseCommand

from hooks.manager import describe, get_plugin_manager


class Command(BaseCommand):
    help = "List the plugins (built-in and entry points) and their hooks."

    def handle(self, *args: Any, **options: Any) -> None:
        manager = get_plugin_manager()
        for name, hooks in describe(manager):
            self.stdout.write(f"{name}: {', '.join(hooks) if hooks else '(no hooks)'}")
        blocked = [name for name, plugin in manager.list_name_plugin() if plugin is None]
        for name in sorted(blocked):
            self.stdout.write(f"{name}: blocked by settings")

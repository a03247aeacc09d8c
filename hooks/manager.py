"""The plugin manager (server side): hookspecs, built-in plugins (trylast), entry-point plugins of
the group ``modelgov``, a blocklist from settings, and ``check_pending()`` so that a hook
implementation with a misspelled name fails at start-up instead of being silently ignored."""

from functools import cache
from typing import Any

import pluggy

from hooks import specs

ENTRY_POINT_GROUP = "modelgov"


def build_plugin_manager(
    *, builtins: list[tuple[str, Any]], blocklist: list[str], load_entry_points: bool = True
) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(specs.PROJECT)
    manager.add_hookspecs(specs)
    for name in blocklist:
        manager.set_blocked(name)
    for name, plugin in builtins:
        manager.register(plugin, name=name)
    if load_entry_points:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    manager.check_pending()
    return manager


@cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, built once from settings."""
    from django.conf import settings

    from governance.gate import builtin

    return build_plugin_manager(
        builtins=builtin.BUILTIN_PLUGINS,
        blocklist=list(settings.MODELGOV.get("PLUGIN_BLOCKLIST", [])),
    )


def describe(manager: pluggy.PluginManager) -> list[tuple[str, list[str]]]:
    """(plugin name, hooks it implements) for every registered plugin, sorted by name."""
    rows = []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in manager.get_hookcallers(plugin) or [])
        rows.append((name, hooks))
    return sorted(rows)

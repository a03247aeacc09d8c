"""The plugin manager (server side): hookspecs, built-in plugins (trylast), entry-point plugins of
the group ``modelgov``, a blocklist from settings, and ``check_pending()`` so that a hook
implementation with a misspelled name fails at start-up instead of being silently ignored."""

import logging
from collections.abc import Collection
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import pluggy

from hooks import specs

ENTRY_POINT_GROUP = "modelgov"

logger = logging.getLogger(__name__)


class PluginConfigError(ValueError):
    """The plugin settings ask for something the service refuses (blocking a protected built-in)."""


def build_plugin_manager(
    *,
    builtins: list[tuple[str, Any]],
    blocklist: list[str],
    load_entry_points: bool = True,
    protected: Collection[str] = (),
) -> pluggy.PluginManager:
    """``protected``: built-in names the blocklist may not name (the gate's own checks: without them
    the gate would decide on the plugins' votes alone)."""
    blocked = [name.strip() for name in blocklist if name.strip()]
    refused = sorted(set(blocked) & set(protected))
    if refused:
        raise PluginConfigError(f"these built-in plugins cannot be blocked: {', '.join(refused)}")
    known = {name for name, _plugin in builtins}
    if load_entry_points:
        known |= {point.name for point in entry_points(group=ENTRY_POINT_GROUP)}
    for name in sorted(set(blocked) - known):
        logger.warning("the plugin blocklist names %r, which is no built-in and no installed plugin", name)
    manager = pluggy.PluginManager(specs.PROJECT)
    manager.add_hookspecs(specs)
    for name in blocked:
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
        protected=(builtin.GATE_CHECKS_NAME,),
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

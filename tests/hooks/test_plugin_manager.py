"""The plugin manager: hookspecs, built-ins as plugins, the blocklist, check_pending() against typos,
and ``manage.py show_plugins``."""

import io
import logging
from typing import Any

import pluggy
import pytest
from django.core.management import call_command

from governance.gate.builtin import BUILTIN_PLUGINS, GATE_CHECKS_NAME, BuiltinGateChecks, FileKeySigner
from hooks import specs
from hooks.events import CheckResult, GateContext
from hooks.manager import PluginConfigError, build_plugin_manager, describe, get_plugin_manager
from hooks.specs import hookimpl


class MisspelledCheck:
    @hookimpl
    def modelgov_gate_chekcs(self, context: GateContext) -> list[CheckResult]:
        return []


class MisspelledArgument:
    @hookimpl
    def modelgov_gate_checks(self, ctx: GateContext) -> list[CheckResult]:
        return []


class OwnMarkerCheck:
    """A plugin using its own pluggy marker, as an external package does."""

    @pluggy.HookimplMarker("modelgov")
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        return [CheckResult("own_marker", "pass")]


def test_a_misspelled_hook_name_fails_at_check_pending():
    typo = MisspelledCheck()

    with pytest.raises(pluggy.PluginValidationError) as raised:
        build_plugin_manager(builtins=[("typo", typo)], blocklist=[], load_entry_points=False)

    assert str(raised.value) == f"unknown hook 'modelgov_gate_chekcs' in plugin {typo!r}"
    assert raised.value.plugin is typo


def test_a_misspelled_argument_fails_at_registration():
    with pytest.raises(pluggy.PluginValidationError) as raised:
        build_plugin_manager(builtins=[("typo", MisspelledArgument())], blocklist=[], load_entry_points=False)

    assert "ctx" in str(raised.value)


def test_the_builtins_are_registered_trylast_under_their_names():
    manager = build_plugin_manager(builtins=BUILTIN_PLUGINS, blocklist=[], load_entry_points=False)

    assert describe(manager) == [
        ("builtin-file-signer", ["modelgov_sign_payload"]),
        ("builtin-gate-checks", ["modelgov_gate_checks"]),
    ]
    assert isinstance(manager.get_plugin("builtin-gate-checks"), BuiltinGateChecks)
    assert isinstance(manager.get_plugin("builtin-file-signer"), FileKeySigner)
    assert [impl.trylast for impl in manager.hook.modelgov_gate_checks.get_hookimpls()] == [True]
    assert [impl.trylast for impl in manager.hook.modelgov_sign_payload.get_hookimpls()] == [True]


def test_a_plugin_runs_before_the_builtins():
    manager = build_plugin_manager(
        builtins=[*BUILTIN_PLUGINS, ("own-marker", OwnMarkerCheck())], blocklist=[], load_entry_points=False
    )

    # pluggy calls the last registered non-trylast implementation first; the built-ins come last.
    assert [impl.plugin_name for impl in reversed(manager.hook.modelgov_gate_checks.get_hookimpls())] == [
        "own-marker",
        "builtin-gate-checks",
    ]


def test_a_blocklisted_name_is_not_registered():
    manager = build_plugin_manager(builtins=BUILTIN_PLUGINS, blocklist=["builtin-file-signer"], load_entry_points=False)

    assert manager.get_plugin("builtin-file-signer") is None
    assert manager.is_blocked("builtin-file-signer")
    assert manager.hook.modelgov_sign_payload.get_hookimpls() == []
    assert describe(manager) == [("builtin-gate-checks", ["modelgov_gate_checks"])]


def test_blocklist_names_are_stripped_and_empty_ones_ignored():
    manager = build_plugin_manager(
        builtins=BUILTIN_PLUGINS, blocklist=[" builtin-file-signer ", "", "  "], load_entry_points=False
    )

    assert manager.get_plugin("builtin-file-signer") is None
    assert manager.is_blocked("builtin-file-signer")
    assert describe(manager) == [("builtin-gate-checks", ["modelgov_gate_checks"])]


def test_the_gates_own_checks_cannot_be_blocklisted():
    with pytest.raises(PluginConfigError) as raised:
        build_plugin_manager(
            builtins=BUILTIN_PLUGINS,
            blocklist=["builtin-gate-checks "],
            load_entry_points=False,
            protected=(GATE_CHECKS_NAME,),
        )

    assert str(raised.value) == "these built-in plugins cannot be blocked: builtin-gate-checks"


def test_the_process_manager_protects_the_gates_own_checks(settings):
    settings.MODELGOV = {**settings.MODELGOV, "PLUGIN_BLOCKLIST": ["builtin-gate-checks"]}
    get_plugin_manager.cache_clear()
    try:
        with pytest.raises(PluginConfigError):
            get_plugin_manager()
    finally:
        get_plugin_manager.cache_clear()


def test_a_blocklist_name_matching_nothing_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="hooks.manager"):
        manager = build_plugin_manager(
            builtins=BUILTIN_PLUGINS, blocklist=["builtin-file-signr"], load_entry_points=False
        )

    assert [record.getMessage() for record in caplog.records] == [
        "the plugin blocklist names 'builtin-file-signr', which is no built-in and no installed plugin"
    ]
    assert manager.get_plugin("builtin-file-signer") is not None


def test_every_hookspec_is_known_to_the_manager():
    manager = build_plugin_manager(builtins=[], blocklist=[], load_entry_points=False)

    names = sorted(name for name in vars(specs) if name.startswith("modelgov_"))
    assert sorted(caller.name for caller in manager.hook.__dict__.values() if hasattr(caller, "spec")) == names
    assert manager.hook.modelgov_sign_payload.spec.opts["firstresult"] is True
    assert manager.hook.modelgov_model_card_sections.spec.opts["firstresult"] is True
    assert manager.hook.modelgov_gate_checks.spec.opts["firstresult"] is False


def show_plugins(**options: Any) -> str:
    out = io.StringIO()
    call_command("show_plugins", stdout=out, **options)
    return out.getvalue()


def test_show_plugins_lists_the_builtins_and_their_hooks():
    assert show_plugins() == ("builtin-file-signer: modelgov_sign_payload\nbuiltin-gate-checks: modelgov_gate_checks\n")


def test_show_plugins_lists_a_registered_plugin_and_a_blocked_one():
    manager = get_plugin_manager()
    plugin = OwnMarkerCheck()
    manager.register(plugin, name="own-marker")
    manager.set_blocked("retired-plugin")
    try:
        output = show_plugins()
    finally:
        manager.unregister(plugin)
        manager.unblock("retired-plugin")

    assert output == (
        "builtin-file-signer: modelgov_sign_payload\n"
        "builtin-gate-checks: modelgov_gate_checks\n"
        "own-marker: modelgov_gate_checks\n"
        "retired-plugin: blocked by settings\n"
    )

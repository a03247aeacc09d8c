"""The external example plugin examples/modelgov-change-ticket, installed by pip into a scratch
directory and found through its entry point, votes in a real gate call."""

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

import governance.gate.notify
import governance.gate.services
import hooks.management.commands.show_plugins
import hooks.manager
from governance.gate.builtin import BUILTIN_PLUGINS

from .support import ask, gate_body, passing_checks

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "modelgov-change-ticket"
PLUGIN_MODULES = ("modelgov_change_ticket", "modelgov_change_ticket.plugin")
# Every module that imported get_plugin_manager by name, and so keeps the cached process manager.
MANAGER_USERS = (
    hooks.manager,
    governance.gate.services,
    governance.gate.notify,
    hooks.management.commands.show_plugins,
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pip-install the example (no dependencies, no build isolation: nothing is downloaded) into a
    scratch directory on sys.path; remove it and its modules afterwards."""
    target = tmp_path_factory.mktemp("change-ticket")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("change-ticket-src") / EXAMPLE.name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in PLUGIN_MODULES:
            sys.modules.pop(name, None)
        importlib.invalidate_caches()


@pytest.fixture
def manager(installed: Path, monkeypatch: pytest.MonkeyPatch) -> pluggy.PluginManager:
    """A fresh manager built with entry points, standing in for the cached process manager."""
    fresh = hooks.manager.build_plugin_manager(builtins=BUILTIN_PLUGINS, blocklist=[])
    for module in MANAGER_USERS:
        monkeypatch.setattr(module, "get_plugin_manager", lambda: fresh)
    return fresh


def test_the_entry_point_registers_the_plugin(manager):
    plugin = manager.get_plugin("change_ticket")

    assert plugin is sys.modules["modelgov_change_ticket.plugin"]
    assert hooks.manager.describe(manager) == [
        ("builtin-file-signer", ["modelgov_sign_payload"]),
        ("builtin-gate-checks", ["modelgov_gate_checks"]),
        ("change_ticket", ["modelgov_gate_checks"]),
    ]


def test_the_entry_point_can_be_blocked(installed):
    blocked = hooks.manager.build_plugin_manager(builtins=BUILTIN_PLUGINS, blocklist=["change_ticket"])

    assert blocked.get_plugin("change_ticket") is None
    assert blocked.is_blocked("change_ticket")


def test_production_without_a_change_ticket_is_denied(world, approved, manager):
    answer = ask(world.ci_b, gate_body(world.version_b1))

    assert answer["decision"] == "deny"
    assert answer["checks"] == [
        *passing_checks(world.version_b1, approved),
        {
            "name": "change_ticket",
            "outcome": "fail",
            "reason": "change_ticket_missing",
            "details": {"given": "", "pattern": "^CHG-[0-9]{3,10}$"},
        },
    ]


def test_production_with_a_change_ticket_passes(world, approved, manager):
    pipeline = {"system": "gitlab-ci", "metadata": {"change_ticket": "CHG-1234"}}

    answer = ask(world.ci_b, gate_body(world.version_b1, pipeline=pipeline))

    assert answer["decision"] == "allow"
    assert answer["checks"][-1] == {
        "name": "change_ticket",
        "outcome": "pass",
        "reason": "ok",
        "details": {"change_ticket": "CHG-1234"},
    }


def test_the_process_manager_is_untouched(installed):
    # Built at start-up, before the example was on sys.path; the tests' swaps are undone.
    assert hooks.manager.get_plugin_manager().get_plugin("change_ticket") is None
    assert governance.gate.services.get_plugin_manager() is hooks.manager.get_plugin_manager()

"""docs/hooks.md documents every hookspec of hooks.specs, as datasette's tests/test_docs.py checks
its plugin hooks: the list comes from the module, so a new hookspec without a heading fails here."""

import inspect
import re
from pathlib import Path

import pytest

from hooks import specs

HOOKS_MD = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
# A heading such as: ### `modelgov_gate_checks(context: GateContext) -> list[CheckResult]`
HEADING = re.compile(r"^#{2,6}\s+`(?P<name>modelgov_\w+)\((?P<params>[^)]*)\)")


def hookspec_names() -> list[str]:
    """Functions of hooks.specs named modelgov_* that carry pluggy's spec marker (``modelgov_spec``)."""
    return sorted(
        name
        for name, value in vars(specs).items()
        if name.startswith("modelgov_") and inspect.isfunction(value) and hasattr(value, f"{specs.PROJECT}_spec")
    )


def documented(markdown: str) -> dict[str, list[str]]:
    """Hook name → the parameter names of its heading, for every hook heading of ``markdown``."""
    found = {}
    for line in markdown.splitlines():
        match = HEADING.match(line)
        if match:
            params = [part.split(":")[0].strip() for part in match["params"].split(",") if part.strip()]
            found[match["name"]] = params
    return found


def undocumented(names: list[str], markdown: str) -> list[str]:
    headings = documented(markdown)
    return [name for name in names if name not in headings]


def test_the_specs_module_has_the_six_hookspecs():
    # Guards the discovery itself: a broken marker check would make the docs test vacuous.
    assert hookspec_names() == [
        "modelgov_approval_decided",
        "modelgov_gate_checks",
        "modelgov_gate_decided",
        "modelgov_model_card_sections",
        "modelgov_model_version_registered",
        "modelgov_sign_payload",
    ]


@pytest.mark.parametrize("name", hookspec_names())
def test_every_hookspec_has_a_heading_in_docs_hooks_md(name):
    assert name in documented(HOOKS_MD.read_text(encoding="utf-8")), f"docs/hooks.md has no heading for {name}"


@pytest.mark.parametrize("name", hookspec_names())
def test_the_heading_names_the_hookspecs_arguments(name):
    spec_params = list(inspect.signature(getattr(specs, name)).parameters)

    assert documented(HOOKS_MD.read_text(encoding="utf-8"))[name] == spec_params


def test_docs_hooks_md_documents_no_hook_that_does_not_exist():
    assert sorted(documented(HOOKS_MD.read_text(encoding="utf-8"))) == hookspec_names()


def test_a_missing_heading_is_reported():
    markdown = HOOKS_MD.read_text(encoding="utf-8")
    without = "\n".join(line for line in markdown.splitlines() if "`modelgov_gate_decided(" not in line)

    assert undocumented(hookspec_names(), markdown) == []
    assert undocumented(hookspec_names(), without) == ["modelgov_gate_decided"]

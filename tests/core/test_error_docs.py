"""Every error code the domain can raise is documented in docs/api-errors.md."""

import importlib
from pathlib import Path

from core.errors import ApplicationError

ERROR_MODULES = ["core.errors", "registry.errors", "governance.errors", "registry.lineage.validation"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api-errors.md"


def _subclasses(klass: type) -> set[type]:
    found = set(klass.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_code_is_documented_with_its_status():
    for module in ERROR_MODULES:
        importlib.import_module(module)
    text = DOCS.read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in text.splitlines()
        if line.startswith("| `")
    }
    codes = {(klass.code, klass.status) for klass in _subclasses(ApplicationError)}
    missing = sorted(code for code, _ in codes if code not in rows)
    wrong_status = sorted(code for code, status in codes if code in rows and rows[code] != str(status))
    assert missing == []
    assert wrong_status == []
    assert len(codes) >= 40

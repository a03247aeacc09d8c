"""``manage.py export_audit_log``: writes a bundle that ``modelgov verify-log`` verifies, entries as text."""

import json
from io import StringIO

from django.core.management import call_command

from core.signing import KeyPurpose, public_key_pem, service_public_key
from governance.models import AuditCheckpoint, AuditLeaf
from hooks.cli import main
from tests.factories import audit_entries
from tests.helpers import audit_entries_after, last_audit_id


def test_writes_a_bundle_that_verifies_offline_with_entries_as_text(world, tmp_path, capsys):
    name = "mod\u00e8le \u2603 \U0001f600"  # a two-, a three- and a four-byte character in UTF-8
    audit_entries(3, subject=world.team_a, model_name=name)
    last = last_audit_id()
    path = tmp_path / "bundle.json"
    out = StringIO()

    call_command("export_audit_log", str(path), stdout=out)

    checkpoint = AuditCheckpoint.objects.latest()
    assert out.getvalue() == (
        f"exported entries 0..{checkpoint.size} with {AuditCheckpoint.objects.count()} checkpoints to bundle.json\n"
    )
    text = path.read_text(encoding="utf-8")
    assert text.isascii()  # json.dumps escapes what is not ASCII; the strings read back are the same
    bundle = json.loads(text)
    assert bundle["format"] == "modelgov-audit-bundle/v2"
    stored = AuditLeaf.objects.order_by("seq").values_list("seq", "entry__entry_bytes")[: checkpoint.size]
    assert [(item["seq"], item["entry"].encode("utf-8")) for item in bundle["entries"]] == [
        (seq, bytes(data)) for seq, data in stored
    ]
    assert sum(f'"model":"{name}"' in item["entry"] for item in bundle["entries"]) == 3
    [logged] = audit_entries_after(last)
    assert (logged.event_type, logged.after) == (
        "AUDIT_LOG_EXPORTED",
        {"from": 0, "to": checkpoint.size, "checkpoint_size": checkpoint.size},
    )

    key_path = tmp_path / "log.pub"
    key_path.write_text(public_key_pem(service_public_key(KeyPurpose.LOG_CHECKPOINT)), encoding="ascii")
    capsys.readouterr()
    assert main(["verify-log", str(path), "--key", str(key_path)]) == 0
    assert capsys.readouterr().out == (
        f"OK: entries 0..{checkpoint.size} of {bundle['origin']} verified against "
        f"{len(bundle['checkpoints'])} signed checkpoints (tree size {checkpoint.size})\n"
    )

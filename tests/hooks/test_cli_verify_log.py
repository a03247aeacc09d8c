"""Tests of ``modelgov verify-log``: exit codes 0 (verified), 1 (does not verify), 2 (unreadable input),
and the one line it prints. Django-free, like the CLI; bundles are built as in test_bundle.py."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hooks.cli import main
from tests.hooks.test_bundle import ORIGIN, Log, make_bundle, make_log
from tests.registry.signing.support import sm2_public_key_pem

REPO_ROOT = Path(__file__).resolve().parents[2]


def pem(key: Ed25519PublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_inputs(tmp_path: Path, log: Log, bundle: dict[str, Any]) -> tuple[str, str]:
    bundle_path, key_path = tmp_path / "bundle.json", tmp_path / "log.pub"
    bundle_path.write_text(json.dumps(bundle), encoding="utf-8")
    key_path.write_bytes(pem(log.key.public_key()))
    return str(bundle_path), str(key_path)


def test_good_bundle_exits_0(tmp_path, capsys):
    log = make_log(20)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [5, 12, 20]))
    assert main(["verify-log", bundle_path, "--key", key_path, "--origin", ORIGIN]) == 0
    out, err = capsys.readouterr()
    assert out == f"OK: entries 0..20 of {ORIGIN} verified against 3 signed checkpoints (tree size 20)\n"
    assert err == ""


def test_without_a_pinned_origin_it_warns_and_verifies_under_the_bundles(tmp_path, capsys):
    log = make_log(20)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [5, 12, 20]))
    assert main(["verify-log", bundle_path, "--key", key_path]) == 0
    out, err = capsys.readouterr()
    assert out == f"OK: entries 0..20 of {ORIGIN} verified against 3 signed checkpoints (tree size 20)\n"
    assert err == (
        "modelgov verify-log: warning: no --origin pinned; the bundle is verified under the origin it names\n"
    )


def test_a_bundle_of_another_log_exits_1_against_the_pinned_origin(tmp_path, capsys):
    log = make_log(20)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [5, 12, 20]))
    assert main(["verify-log", bundle_path, "--key", key_path, "--origin", "other.example/log"]) == 1
    assert capsys.readouterr().out == (
        f"INVALID [wrong_origin]: the bundle is of the log {ORIGIN!r}, not of 'other.example/log'\n"
    )


def test_partial_bundle_exits_0(tmp_path, capsys):
    log = make_log(20)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [5, 12, 20], start=3, end=9))
    assert main(["verify-log", bundle_path, "--key", key_path]) == 0
    assert (
        capsys.readouterr().out
        == f"OK: entries 3..9 of {ORIGIN} verified against 3 signed checkpoints (tree size 20)\n"
    )


def test_flipped_entry_exits_1_naming_the_seq(tmp_path, capsys):
    log = make_log(20)
    bundle = make_bundle(log, [5, 12, 20])
    bundle["entries"][9]["entry"] = bundle["entries"][9]["entry"].replace('"n":9', '"n":8')
    bundle_path, key_path = write_inputs(tmp_path, log, bundle)
    assert main(["verify-log", bundle_path, "--key", key_path]) == 1
    assert (
        capsys.readouterr().out
        == "INVALID [bad_entry] (first bad seq: 9): entry seq 9: its bytes do not hash to its leaf\n"
    )


def test_signed_non_json_entry_exits_1_unless_the_json_check_is_off(tmp_path, capsys):
    log = make_log(20, replace={4: b"not json"})
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [5, 12, 20]))
    assert main(["verify-log", bundle_path, "--key", key_path]) == 1
    assert capsys.readouterr().out == "INVALID [bad_entry] (first bad seq: 4): entry seq 4 is not JSON\n"
    assert main(["verify-log", bundle_path, "--key", key_path, "--no-json-check"]) == 0
    assert capsys.readouterr().out == (
        f"OK: entries 0..20 of {ORIGIN} verified against 3 signed checkpoints (tree size 20)\n"
    )


def test_rolled_back_log_exits_1_given_the_later_checkpoint(tmp_path, capsys):
    log = make_log(20)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [5, 12]))
    known = tmp_path / "checkpoint.txt"
    known.write_text(log.note(20), encoding="utf-8")
    assert main(["verify-log", bundle_path, "--key", key_path]) == 0
    capsys.readouterr()
    assert main(["verify-log", bundle_path, "--key", key_path, "--checkpoint", str(known)]) == 1
    assert capsys.readouterr().out == (
        "INVALID [rolled_back]: the log was rolled back: a checkpoint of size 20 was issued, the bundle ends at 12\n"
    )


def test_unreadable_bundle_exits_2(tmp_path, capsys):
    log = make_log(3)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [3]))
    Path(bundle_path).write_text("{not json", encoding="utf-8")
    assert main(["verify-log", bundle_path, "--key", key_path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("modelgov verify-log: cannot read input: ")


def test_missing_bundle_file_exits_2(tmp_path, capsys):
    log = make_log(3)
    _, key_path = write_inputs(tmp_path, log, make_bundle(log, [3]))
    assert main(["verify-log", str(tmp_path / "absent.json"), "--key", key_path]) == 2
    assert capsys.readouterr().err.startswith("modelgov verify-log: cannot read input: ")


def test_key_that_is_not_ed25519_exits_2(tmp_path, capsys):
    log = make_log(3)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [3]))
    Path(key_path).write_bytes(pem(ec.generate_private_key(ec.SECP256R1()).public_key()))
    assert main(["verify-log", bundle_path, "--key", key_path]) == 2
    assert capsys.readouterr().err == (
        "modelgov verify-log: cannot read input: the log key must be an Ed25519 public key\n"
    )


def test_key_on_a_curve_openssl_does_not_know_exits_2(tmp_path, capsys):
    log = make_log(3)
    bundle_path, key_path = write_inputs(tmp_path, log, make_bundle(log, [3]))
    Path(key_path).write_text(sm2_public_key_pem(), encoding="ascii")
    assert main(["verify-log", bundle_path, "--key", key_path]) == 2
    assert capsys.readouterr().err.startswith(
        "modelgov verify-log: cannot read input: the log key is not a usable public key: "
    )


def test_missing_key_argument_exits_2(tmp_path, capsys):
    log = make_log(3)
    bundle_path, _ = write_inputs(tmp_path, log, make_bundle(log, [3]))
    assert main(["verify-log", bundle_path]) == 2
    assert "the following arguments are required: --key" in capsys.readouterr().err


def test_bundle_with_an_invalid_key_name_exits_1_with_an_invalid_line(tmp_path):
    """A malformed bundle must give the INVALID line, not a traceback (exit 1 by accident)."""
    log = make_log(5)
    bundle = {**make_bundle(log, [5]), "key_name": "not a key name"}
    bundle_path, key_path = write_inputs(tmp_path, log, bundle)
    result = subprocess.run(
        [sys.executable, "-m", "hooks.cli", "verify-log", bundle_path, "--key", key_path],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("INVALID [bad_format]: ")
    assert "Traceback" not in result.stderr


def test_real_command_verifies_and_refuses(tmp_path):
    """The installed entry point's module, run as a process, as a regulator runs it."""
    log = make_log(20)
    bundle = make_bundle(log, [5, 12, 20])
    bundle_path, key_path = write_inputs(tmp_path, log, bundle)
    command = [sys.executable, "-m", "hooks.cli", "verify-log", bundle_path, "--key", key_path, "--origin", ORIGIN]
    good = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert (good.returncode, good.stdout, good.stderr) == (
        0,
        f"OK: entries 0..20 of {ORIGIN} verified against 3 signed checkpoints (tree size 20)\n",
        "",
    )
    bundle["entries"][13]["entry"] = bundle["entries"][13]["entry"].replace('"event"', '"Event"')
    Path(bundle_path).write_text(json.dumps(bundle), encoding="utf-8")
    bad = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert (bad.returncode, bad.stdout, bad.stderr) == (
        1,
        "INVALID [bad_entry] (first bad seq: 13): entry seq 13: its bytes do not hash to its leaf\n",
        "",
    )

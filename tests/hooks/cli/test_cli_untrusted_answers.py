"""``modelgov gate`` and the client against a stub server on loopback that answers what a test tells it
to: forged, replayed or mismatched decisions exit 1, answers of the wrong shape exit 2 with one line,
and only a verified allow for exactly this request exits 0. No Django: the stub is http.server in a
thread, the gate key an Ed25519 key made here."""

import base64
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hooks import tlog
from hooks.client import ApiError, ModelgovClient, TransportError
from hooks.decision import GATE_PREDICATE_TYPE
from hooks.manifest import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE
from tests.hooks.cli.support import register_arguments
from tests.registry.signing.support import sm2_public_key_pem

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
GATE_PATH = "/api/v1/gate/promotions"
KEYS_PATH = "/api/v1/keys/"
REGISTER_PATH = "/api/v1/models/model-b/versions/"
GATE = ("gate", "--model", "model-b", "--version", "2", "--stage", "production", "--digest", DIGEST)
DECISION_ID = "0b5e7c1a-8f0e-4c11-9a55-3f6f0c2b9d10"
CHECKS = [
    {"name": name, "outcome": "pass", "reason": "ok", "details": {}}
    for name in ("signature_valid", "digest_matches", "signing_key_active", "approvals_complete")
]
TABLE = [
    "check               outcome  reason",
    "signature_valid     pass     ok",
    "digest_matches      pass     ok",
    "signing_key_active  pass     ok",
    "approvals_complete  pass     ok",
    f"decision: allow  (id {DECISION_ID}, seq 7)",
]
ALLOW = f"modelgov gate: ALLOW (decision {DECISION_ID}, audit seq 7)\n"
NOT_VERIFIED = "modelgov gate: DENY (the answer is not a verified decision: {})\n"
NONCE = re.compile(r"[A-Za-z0-9_-]{24}")  # secrets.token_urlsafe(18)


# --- the stub server ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    # A Content-Length larger than the body: the connection closes before the body is whole.
    declared_length: int | None = None


Route = Callable[[Any], Reply]


@dataclass
class Stub:
    """Answers ``(method, path)`` with what its route returns for the request's decoded JSON body (a 404
    for any other), and records every request as ``(method, path, body)``."""

    url: str
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def answer(self, method: str, path: str, route: Route) -> None:
        self.routes[(method, path)] = route

    def gate_nonces(self) -> list[str | None]:
        return [body.get("nonce") for method, path, body in self.requests if (method, path) == ("POST", GATE_PATH)]


def json_reply(build: Callable[[Any], Any]) -> Route:
    return lambda request: Reply(200, json.dumps(build(request)).encode())


def raw_reply(body: bytes, status: int = 200) -> Route:
    return lambda _request: Reply(status, body)


@pytest.fixture
def stub() -> Iterator[Stub]:
    routes: dict[tuple[str, str], Route] = {}
    requests: list[tuple[str, str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw) if raw else None
            requests.append((self.command, self.path, body))
            route = routes.get((self.command, self.path))
            reply = route(body) if route else Reply(404, b'{"code": "not_found", "message": "stub", "extra": {}}')
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(reply.declared_length or len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stub(f"http://127.0.0.1:{server.server_port}", routes, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- keys and decisions ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gate_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def pinned(tmp_path: Path, gate_key: ed25519.Ed25519PrivateKey) -> Path:
    """The gate's public key as the pipeline pins it, for ``--gate-key``."""
    path = tmp_path / "gate.pub"
    path.write_bytes(pem(gate_key.public_key()))
    return path


def pem(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def signed(statement: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> dict[str, Any]:
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    return tlog.dsse_sign(INTOTO_PAYLOAD_TYPE, payload, key.sign, "stub-gate-key")


def decision(
    request: dict[str, Any],
    key: ed25519.Ed25519PrivateKey,
    *,
    signed_fields: dict[str, Any] | None = None,
    subject_digest: str | None = None,
    body_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The gate's answer to ``request`` as the server gives it: an allow whose envelope ``key`` signs.
    ``signed_fields`` change the signed predicate, ``subject_digest`` the signed subject, and
    ``body_fields`` the unsigned body around the envelope."""
    predicate = {
        "decision_id": DECISION_ID,
        "decision": "allow",
        "model": request["model"],
        "version": request["version"],
        "target_stage": request["target_stage"],
        "registered_digest": request["artifact_digest"],
        "checks": CHECKS,
        "policy_version": 1,
        "pipeline": request["pipeline"],
        "dry_run": request["dry_run"],
        "promote": request["promote"],
        "nonce": request.get("nonce"),
        "decided_by": "ci-b",
        "decided_at": "2026-03-02T10:00:00Z",
        **(signed_fields or {}),
    }
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": request["model"],
                "digest": {"sha256": (subject_digest or request["artifact_digest"]).removeprefix("sha256:")},
            }
        ],
        "predicateType": GATE_PREDICATE_TYPE,
        "predicate": predicate,
    }
    body = {
        "decision": predicate["decision"],
        "decision_id": DECISION_ID,
        "checks": CHECKS,
        "policy_version": 1,
        "audit_seq": 7,
        "promoted": predicate["decision"] == "allow" and request["promote"] and not request["dry_run"],
        "dry_run": request["dry_run"],
        "envelope": signed(statement, key),
    }
    return {**body, **(body_fields or {})}


def assert_no_allow(result: Any) -> None:
    assert not any(line.startswith("modelgov gate: ALLOW") for line in (result.out + result.err).splitlines())


# --- a verified allow for exactly this request ----------------------------------------------------------------


def test_an_honest_signed_allow_exits_0_and_every_call_sends_a_fresh_nonce(stub, cli, pinned, gate_key):
    # The control: the stub's honest answer passes, so every refusal below is for the one thing it changes.
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key)))

    first = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")
    second = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (first.code, first.out.splitlines(), first.err) == (0, TABLE, ALLOW)
    assert (second.code, second.err) == (0, ALLOW)
    nonces = stub.gate_nonces()
    assert len(nonces) == 2
    assert all(isinstance(nonce, str) and NONCE.fullmatch(nonce) for nonce in nonces)
    assert nonces[0] != nonces[1]
    [(_, _, body), _] = stub.requests
    assert {key: value for key, value in body.items() if key != "nonce"} == {
        "model": "model-b",
        "version": 2,
        "target_stage": "production",
        "artifact_digest": DIGEST,
        "pipeline": {"system": "shell", "run_id": "", "url": "", "commit": "", "metadata": {}},
        "dry_run": False,
        "promote": False,
    }


@pytest.mark.parametrize(
    "flags", [["--promote"], ["--dry-run"], ["--dry-run", "--promote"]], ids=["promote", "dry-run", "dry-run-promote"]
)
def test_an_honest_signed_allow_exits_0_with_promote_or_dry_run(stub, cli, pinned, gate_key, flags):
    # A dry run never promotes, so with --dry-run --promote the answer's promoted false is expected.
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key)))

    result = cli(*GATE, *flags, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.err) == (0, ALLOW)
    [(_, _, body)] = stub.requests
    assert (body["dry_run"], body["promote"]) == ("--dry-run" in flags, "--promote" in flags)


# --- forged allows: exit 1 ---------------------------------------------------------------------------------------


def test_an_allow_signed_by_another_key_exits_1(stub, cli, pinned):
    other_key = ed25519.Ed25519PrivateKey.generate()
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, other_key)))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.out.splitlines()) == (1, TABLE)
    assert result.err == NOT_VERIFIED.format(
        "the decision envelope does not verify: no signature of the envelope verifies with the given key"
    )
    assert_no_allow(result)


def test_an_envelope_with_one_payload_byte_changed_exits_1(stub, cli, pinned, gate_key):
    def tampered(request: dict[str, Any]) -> dict[str, Any]:
        answer = decision(request, gate_key)
        payload = bytearray(base64.b64decode(answer["envelope"]["payload"]))
        at = payload.index(b'"decided_by":"ci-b"') + len(b'"decided_by":"')
        payload[at] ^= 0x01  # "ci-b" becomes "bi-b": still JSON, no longer what was signed
        answer["envelope"]["payload"] = base64.b64encode(bytes(payload)).decode()
        return answer

    stub.answer("POST", GATE_PATH, json_reply(tampered))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    assert result.err == NOT_VERIFIED.format(
        "the decision envelope does not verify: no signature of the envelope verifies with the given key"
    )
    assert_no_allow(result)


def test_a_signed_allow_for_another_digest_exits_1(stub, cli, pinned, gate_key):
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key, subject_digest=OTHER_DIGEST)))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    assert result.err == NOT_VERIFIED.format(f"the decision is for artifact_digest {OTHER_DIGEST!r}, not {DIGEST!r}")
    assert_no_allow(result)


@pytest.mark.parametrize(
    ("name", "signed_value", "asked"),
    [("model", "model-a", "model-b"), ("version", 1, 2), ("target_stage", "staging", "production")],
)
def test_a_signed_allow_for_another_model_version_or_stage_exits_1(
    stub, cli, pinned, gate_key, name, signed_value, asked
):
    stub.answer(
        "POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key, signed_fields={name: signed_value}))
    )

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    assert result.err == NOT_VERIFIED.format(f"the decision is for {name} {signed_value!r}, not {asked!r}")
    assert_no_allow(result)


def test_a_signed_deny_in_a_body_that_says_allow_exits_1(stub, cli, pinned, gate_key):
    stub.answer(
        "POST",
        GATE_PATH,
        json_reply(
            lambda request: decision(
                request, gate_key, signed_fields={"decision": "deny"}, body_fields={"decision": "allow"}
            )
        ),
    )

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.out.splitlines()) == (1, TABLE)
    assert result.err == "modelgov gate: DENY (the signed decision differs from the response)\n"
    assert_no_allow(result)


# --- replays and answers to another request: exit 1 -------------------------------------------------------------


def test_an_allow_replayed_to_a_later_call_exits_1(stub, cli, pinned, gate_key):
    # The first call gets an honest allow; the stub replays that very answer, signature intact, to the next.
    answers: list[dict[str, Any]] = []

    def replay(request: dict[str, Any]) -> dict[str, Any]:
        if not answers:
            answers.append(decision(request, gate_key))
        return answers[0]

    stub.answer("POST", GATE_PATH, json_reply(replay))

    first = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")
    replayed = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (first.code, first.err) == (0, ALLOW)
    signed_nonce, sent_nonce = stub.gate_nonces()
    assert (replayed.code, replayed.out.splitlines()) == (1, TABLE)
    assert replayed.err == NOT_VERIFIED.format(f"the decision is for nonce {signed_nonce!r}, not {sent_nonce!r}")
    assert_no_allow(replayed)


def test_a_signed_allow_without_a_nonce_exits_1(stub, cli, pinned, gate_key):
    # What a server that ignores the nonce signs: null.
    without_nonce = json_reply(lambda request: decision(request, gate_key, signed_fields={"nonce": None}))
    stub.answer("POST", GATE_PATH, without_nonce)

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    [sent_nonce] = stub.gate_nonces()
    assert result.code == 1
    assert result.err == NOT_VERIFIED.format(f"the decision is for nonce None, not {sent_nonce!r}")
    assert_no_allow(result)


@pytest.mark.parametrize(("flags", "signed_dry_run"), [([], True), (["--dry-run"], False)], ids=["real", "dry-run"])
def test_a_signed_allow_whose_dry_run_differs_from_the_request_exits_1(
    stub, cli, pinned, gate_key, flags, signed_dry_run
):
    stub.answer(
        "POST",
        GATE_PATH,
        json_reply(lambda request: decision(request, gate_key, signed_fields={"dry_run": signed_dry_run})),
    )

    result = cli(*GATE, *flags, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    wanted = not signed_dry_run
    assert result.err == NOT_VERIFIED.format(f"the decision is for dry_run {signed_dry_run!r}, not {wanted!r}")
    assert_no_allow(result)


@pytest.mark.parametrize(
    ("flags", "signed_promote"), [([], True), (["--promote"], False)], ids=["no-promote", "promote"]
)
def test_a_signed_allow_whose_promote_differs_from_the_request_exits_1(
    stub, cli, pinned, gate_key, flags, signed_promote
):
    stub.answer(
        "POST",
        GATE_PATH,
        json_reply(
            lambda request: decision(
                request, gate_key, signed_fields={"promote": signed_promote}, body_fields={"promoted": True}
            )
        ),
    )

    result = cli(*GATE, *flags, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    wanted = not signed_promote
    assert result.err == NOT_VERIFIED.format(f"the decision is for promote {signed_promote!r}, not {wanted!r}")
    assert_no_allow(result)


def test_a_signed_allow_that_says_not_promoted_after_promote_exits_1(stub, cli, pinned, gate_key):
    stub.answer(
        "POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key, body_fields={"promoted": False}))
    )

    result = cli(*GATE, "--promote", "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    assert result.err == NOT_VERIFIED.format("it says not promoted, --promote was asked")
    assert_no_allow(result)


# --- answers of the wrong shape: exit 2, one line, no traceback -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"", "empty or null"),
        (b"null", "empty or null"),
        (b"[]", "a JSON array"),
        (b'"allow"', "a JSON string"),
        (b"0", "a JSON number"),
        (b"true", "a JSON boolean"),
    ],
    ids=["empty", "null", "list", "string", "number", "boolean"],
)
def test_a_gate_answer_that_is_not_an_object_exits_2(stub, cli, pinned, body, kind):
    stub.answer("POST", GATE_PATH, raw_reply(body))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.out) == (2, "")
    assert result.err == f"modelgov gate: the answer to POST {GATE_PATH} is {kind}, not a JSON object\n"


def test_a_gate_answer_that_is_not_json_exits_2(stub, cli, pinned):
    stub.answer("POST", GATE_PATH, raw_reply(b"<html>allow</html>"))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.out) == (2, "")
    assert result.err == "modelgov gate: the server answered 200 with a body that is not JSON\n"


def test_a_gate_answer_cut_short_exits_2(stub, cli, pinned, gate_key):
    def cut(request: dict[str, Any]) -> Reply:
        whole = json.dumps(decision(request, gate_key)).encode()
        return Reply(200, whole[:40], declared_length=len(whole))

    stub.answer("POST", GATE_PATH, cut)

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"modelgov gate: cannot reach {stub.url}: IncompleteRead(")
    assert len(result.err.splitlines()) == 1


def test_an_allow_without_an_envelope_exits_2_as_the_answer_lacks_a_field(stub, cli, pinned, gate_key):
    # Exit 2, not 1: the body is not the API's shape, so nothing of it is read as a decision.
    def without_envelope(request: dict[str, Any]) -> dict[str, Any]:
        answer = decision(request, gate_key)
        del answer["envelope"]
        return answer

    stub.answer("POST", GATE_PATH, json_reply(without_envelope))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.out) == (2, "")
    assert result.err == "modelgov gate: the gate's answer has no 'envelope'\n"
    assert_no_allow(result)


@pytest.mark.parametrize(
    ("fields", "err"),
    [
        ({"envelope": None}, "in the gate's answer, 'envelope' is empty or null"),
        ({"envelope": "signed, honestly"}, "in the gate's answer, 'envelope' is a JSON string"),
        ({"checks": {"name": "signature_valid"}}, "in the gate's answer, 'checks' is a JSON object"),
        ({"checks": ["signature_valid"]}, "the gate's answer has checks that are not JSON objects"),
        ({"decision": "maybe"}, "the gate's answer has decision 'maybe', not 'allow' or 'deny'"),
        ({"promoted": "yes"}, "in the gate's answer, 'promoted' is a JSON string"),
        ({"audit_seq": True}, "in the gate's answer, 'audit_seq' is a JSON boolean"),
    ],
    ids=["envelope-null", "envelope-string", "checks-object", "check-string", "decision-maybe", "promoted", "seq"],
)
def test_a_gate_answer_with_a_field_of_the_wrong_type_exits_2(stub, cli, pinned, gate_key, fields, err):
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key, body_fields=fields)))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.out, result.err) == (2, "", f"modelgov gate: {err}\n")


def test_an_allow_whose_decision_cannot_be_saved_exits_2(stub, cli, pinned, gate_key, tmp_path):
    # The evidence the pipeline asked to keep is part of the step: no file, no allow.
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key)))
    target = tmp_path / "no-such-directory" / "decision.json"

    result = cli(*GATE, "--gate-key", str(pinned), "--save-decision", str(target), url=stub.url, token="mg_stub")

    assert (result.code, result.out) == (2, "")
    missing = f"[Errno 2] No such file or directory: {str(target)!r}"
    assert result.err == f"modelgov gate: cannot save the decision: {missing}\n"


WARNING = "warning: no --gate-key pinned; using the gate key the server publishes at /api/v1/keys/"
NOT_A_LISTING = (
    'modelgov gate: the answer to GET /api/v1/keys/ is not a key listing ({"keys": [{"purpose", "public_key_pem"}]})'
)


@pytest.mark.parametrize(
    ("listing", "err"),
    [
        (
            {"keys": [{"purpose": "inventory", "public_key_pem": "-----BEGIN PUBLIC KEY-----"}]},
            "modelgov gate: the server publishes no gate_decision key at /api/v1/keys/",
        ),
        ({"keys": []}, "modelgov gate: the server publishes no gate_decision key at /api/v1/keys/"),
        ([], NOT_A_LISTING),
        (None, NOT_A_LISTING),
        ({"keys": {"gate_decision": "-----BEGIN PUBLIC KEY-----"}}, NOT_A_LISTING),
        ({"keys": [{"purpose": "gate_decision"}]}, NOT_A_LISTING),
    ],
    ids=["no-gate-key", "no-keys", "list", "null", "keys-object", "key-without-pem"],
)
def test_a_key_listing_without_a_gate_key_exits_2_before_asking_the_gate(stub, cli, listing, err):
    stub.answer("GET", KEYS_PATH, json_reply(lambda _request: listing))

    result = cli(*GATE, url=stub.url, token="mg_stub")

    assert (result.code, result.out, result.err.splitlines()) == (2, "", [WARNING, err])
    assert [(method, path) for method, path, _ in stub.requests] == [("GET", KEYS_PATH)]


def test_the_published_gate_key_is_used_when_none_is_pinned(stub, cli, gate_key):
    stub.answer(
        "GET",
        KEYS_PATH,
        json_reply(
            lambda _request: {
                "keys": [{"purpose": "gate_decision", "public_key_pem": pem(gate_key.public_key()).decode()}]
            }
        ),
    )
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key)))

    result = cli(*GATE, url=stub.url, token="mg_stub")

    assert (result.code, result.err.splitlines()) == (0, [WARNING, ALLOW.strip()])


def secp112r1_public_key_pem() -> str:
    """A SubjectPublicKeyInfo for an EC key on secp112r1 (OID 1.3.132.0.6), which OpenSSL does not load:
    cryptography raises UnsupportedAlgorithm for the curve before it looks at the point."""

    def der(tag: int, body: bytes) -> bytes:
        return bytes([tag, len(body)]) + body  # every length here is under 128

    algorithm = der(0x30, der(0x06, bytes.fromhex("2a8648ce3d0201")) + der(0x06, bytes.fromhex("2b81040006")))
    spki = der(0x30, algorithm + der(0x03, b"\x00\x04" + b"\x01" * 14 + b"\x02" * 14))
    return f"-----BEGIN PUBLIC KEY-----\n{base64.b64encode(spki).decode('ascii')}\n-----END PUBLIC KEY-----\n"


UNSUPPORTED_CURVES = [
    (sm2_public_key_pem(), "Curve 1.2.156.10197.1.301 is not supported"),
    (secp112r1_public_key_pem(), "Curve 1.3.132.0.6 is not supported"),
]


@pytest.mark.parametrize(("key_pem", "reason"), UNSUPPORTED_CURVES, ids=["sm2", "secp112r1"])
def test_a_published_gate_key_on_a_curve_openssl_does_not_know_exits_2_before_asking_the_gate(
    stub, cli, gate_key, key_pem, reason
):
    # An unusable key is a usage error, as a key listing without a gate key is: exit 2, no traceback.
    listing = {"keys": [{"purpose": "gate_decision", "public_key_pem": key_pem}]}
    stub.answer("GET", KEYS_PATH, json_reply(lambda _request: listing))
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key)))

    result = cli(*GATE, url=stub.url, token="mg_stub")

    err = f"modelgov gate: the gate key is not a usable public key: {reason}"
    assert (result.code, result.out, result.err.splitlines()) == (2, "", [WARNING, err])
    assert [(method, path) for method, path, _ in stub.requests] == [("GET", KEYS_PATH)]


@pytest.mark.parametrize(
    ("key_pem", "reason"),
    [*UNSUPPORTED_CURVES, ("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "Unable to load PEM")],
    ids=["sm2", "secp112r1", "not-pem"],
)
def test_a_pinned_gate_key_that_cannot_be_loaded_exits_2_before_asking_the_gate(
    stub, cli, gate_key, tmp_path, key_pem, reason
):
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key)))
    pinned_path = tmp_path / "gate.pub"
    pinned_path.write_text(key_pem, encoding="ascii")

    result = cli(*GATE, "--gate-key", str(pinned_path), url=stub.url, token="mg_stub")

    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"modelgov gate: the gate key is not a usable public key: {reason}")
    assert len(result.err.splitlines()) == 1
    assert stub.requests == []


# --- text the terminal cannot print: escaped, never a crash --------------------------------------------------------

LONE_SURROGATE = "\ud800"  # valid in JSON ("\\ud800"), not encodable in UTF-8


def with_surrogates(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with a lone surrogate in the unsigned body's first check name and reason."""
    checks = [dict(check) for check in answer["checks"]]
    checks[0] = {**checks[0], "name": f"signature_valid{LONE_SURROGATE}", "reason": f"ok{LONE_SURROGATE}"}
    return {**answer, "checks": checks}


def test_a_verified_allow_whose_unsigned_check_name_holds_a_lone_surrogate_prints_it_escaped_and_exits_0(
    stub, cli, pinned, gate_key
):
    # The checks in the body are not signed, and verification does not read them: this is a verified
    # allow for this request. The table shows the name escaped, and the columns are aligned on that.
    stub.answer("POST", GATE_PATH, json_reply(lambda request: with_surrogates(decision(request, gate_key))))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert (result.code, result.err) == (0, ALLOW)
    assert result.out.splitlines() == [
        "check                  outcome  reason",
        "signature_valid\\ud800  pass     ok\\ud800",
        "digest_matches         pass     ok",
        "signing_key_active     pass     ok",
        "approvals_complete     pass     ok",
        f"decision: allow  (id {DECISION_ID}, seq 7)",
    ]


@pytest.mark.parametrize("signer", ["another-key", "unsigned"])
def test_an_unverified_answer_whose_check_name_holds_a_lone_surrogate_exits_1(stub, cli, pinned, gate_key, signer):
    other_key = ed25519.Ed25519PrivateKey.generate()

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        forged = with_surrogates(decision(request, other_key, body_fields={"decision_id": f"id{LONE_SURROGATE}"}))
        if signer == "unsigned":
            forged["envelope"]["signatures"] = []
        return forged

    stub.answer("POST", GATE_PATH, json_reply(answer))

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    assert "Traceback" not in result.err
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith("modelgov gate: DENY (the answer is not a verified decision: ")
    lines = result.out.splitlines()
    assert lines[1].startswith("signature_valid\\ud800  pass")
    assert lines[-1] == "decision: allow  (id id\\ud800, seq 7)"
    assert_no_allow(result)


def test_a_signed_allow_for_another_request_whose_check_name_holds_a_lone_surrogate_exits_1(
    stub, cli, pinned, gate_key
):
    # Signed by the gate key, with the surrogate signed too, but for another artifact: not an allow here.
    surrogate_checks = with_surrogates({"checks": CHECKS})["checks"]
    stub.answer(
        "POST",
        GATE_PATH,
        json_reply(
            lambda request: with_surrogates(
                decision(request, gate_key, subject_digest=OTHER_DIGEST, signed_fields={"checks": surrogate_checks})
            )
        ),
    )

    result = cli(*GATE, "--gate-key", str(pinned), url=stub.url, token="mg_stub")

    assert result.code == 1
    assert result.err == NOT_VERIFIED.format(f"the decision is for artifact_digest {OTHER_DIGEST!r}, not {DIGEST!r}")
    assert result.out.splitlines()[1] == "signature_valid\\ud800  pass     ok\\ud800"
    assert_no_allow(result)


# --- modelgov register -------------------------------------------------------------------------------------------


@pytest.fixture
def register_args(tmp_path: Path) -> list[str]:
    return register_arguments(tmp_path)


REGISTERED = {
    "id": 12,
    "model": "model-b",
    "version": 2,
    "artifact_uri": "s3://models/model-b/2",
    "artifact_digest": DIGEST,
    "stage": "none",
    "signature_status": "valid",
}


def test_register_prints_model_version_and_digest_and_with_json_the_whole_answer(stub, cli, register_args):
    stub.answer("POST", REGISTER_PATH, json_reply(lambda _request: REGISTERED))

    plain = cli(*register_args, url=stub.url, token="mg_stub")
    whole = cli(*register_args, "--json", url=stub.url, token="mg_stub")

    assert (plain.code, plain.err) == (0, "")
    assert plain.out == '{"model": "model-b", "version": 2, "artifact_digest": "' + DIGEST + '"}\n'
    assert (whole.code, whole.err) == (0, "")
    assert json.loads(whole.out) == REGISTERED


@pytest.mark.parametrize(
    ("body", "err"),
    [
        (b"[]", f"the answer to POST {REGISTER_PATH} is a JSON array, not a JSON object"),
        (b"", f"the answer to POST {REGISTER_PATH} is empty or null, not a JSON object"),
        (b'{"model": "model-b", "artifact_digest": "sha256:ab"}', "the registration's answer has no 'version'"),
        (
            b'{"model": "model-b", "version": "2", "artifact_digest": "sha256:ab"}',
            "in the registration's answer, 'version' is a JSON string",
        ),
    ],
    ids=["list", "empty", "no-version", "version-string"],
)
def test_register_exits_2_on_an_answer_of_the_wrong_shape(stub, cli, register_args, body, err):
    stub.answer("POST", REGISTER_PATH, raw_reply(body))

    result = cli(*register_args, url=stub.url, token="mg_stub")

    assert (result.code, result.out, result.err) == (2, "", f"modelgov register: {err}\n")


# --- the client --------------------------------------------------------------------------------------------------


def test_the_client_sends_the_nonce_only_when_given(stub, gate_key):
    stub.answer("POST", GATE_PATH, json_reply(lambda request: decision(request, gate_key)))
    client = ModelgovClient(stub.url, "mg_stub", timeout=10)

    with_nonce = client.gate(
        model="model-b", version=2, target_stage="production", artifact_digest=DIGEST, nonce="n-1.a~b_c"
    )
    without = client.gate(model="model-b", version=2, target_stage="production", artifact_digest=DIGEST)

    [(_, _, first), (_, _, second)] = stub.requests
    assert (first["nonce"], "nonce" in second) == ("n-1.a~b_c", False)
    assert (with_nonce["decision"], without["decision"]) == ("allow", "allow")


@pytest.mark.parametrize(
    ("call", "route", "message"),
    [
        (
            lambda client: client.request_promotion(model="model-b", version=2, target_stage="production"),
            ("POST", "/api/v1/approvals/", b"null"),
            "the answer to POST /api/v1/approvals/ is empty or null, not a JSON object",
        ),
        (
            lambda client: client.lineage_impact(namespace="s3://x", name="y"),
            ("GET", "/api/v1/lineage/impact?namespace=s3%3A%2F%2Fx&name=y", b'["dataset"]'),
            "the answer to GET /api/v1/lineage/impact is a JSON array, not a JSON object",
        ),
        (
            lambda client: client.service_key("gate_decision"),
            ("GET", KEYS_PATH, b'{"keys": []}'),
            "the server publishes no gate_decision key at /api/v1/keys/",
        ),
    ],
    ids=["approval", "lineage-impact", "service-key"],
)
def test_the_client_raises_a_transport_error_for_an_answer_of_the_wrong_shape(stub, call, route, message):
    method, path, body = route
    stub.answer(method, path, raw_reply(body))

    with pytest.raises(TransportError) as raised:
        call(ModelgovClient(stub.url, "mg_stub", timeout=10))

    assert str(raised.value) == message


def test_an_error_body_with_extra_of_the_wrong_type_is_still_an_api_error(stub):
    stub.answer("GET", "/api/v1/models/", raw_reply(b'{"code": "busy", "message": "later", "extra": [1]}', 503))

    with pytest.raises(ApiError) as raised:
        ModelgovClient(stub.url, "mg_stub", timeout=10).request("GET", "/api/v1/models/")

    assert (raised.value.status, raised.value.code, raised.value.message, raised.value.extra) == (
        503,
        "busy",
        "later",
        {},
    )

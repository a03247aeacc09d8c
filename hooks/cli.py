"""The ``modelgov`` command that pipelines and regulators run (importable without Django).

Exit codes: 0 success, 1 verification failed, 2 usage or transport error.
"""

import argparse
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hooks.bundle import BundleError, load_public_key, verify_bundle
from hooks.client import ApiError, ModelgovClient, TransportError
from hooks.decision import DecisionInvalid, load_verification_key, verify_decision
from hooks.manifest import ManifestError, manifest_of_directory, root_digest, sign_manifest, validate_manifest

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _client() -> ModelgovClient:
    url = os.environ.get("MODELGOV_URL", "")
    if not url:
        raise ValueError("set MODELGOV_URL (and MODELGOV_TOKEN)")
    return ModelgovClient(url, os.environ.get("MODELGOV_TOKEN"))


def _pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """What CI system is calling, read from the usual environment of GitHub, GitLab and Jenkins."""
    env = os.environ
    if env.get("GITHUB_ACTIONS"):
        server, repository = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", "")
        run_url = f"{server}/{repository}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
        info = {
            "system": "github-actions",
            "run_id": env.get("GITHUB_RUN_ID", ""),
            "url": run_url,
            "commit": env.get("GITHUB_SHA", ""),
        }
    elif env.get("GITLAB_CI"):
        info = {
            "system": "gitlab-ci",
            "run_id": env.get("CI_PIPELINE_ID", ""),
            "url": env.get("CI_PIPELINE_URL", ""),
            "commit": env.get("CI_COMMIT_SHA", ""),
        }
    elif env.get("JENKINS_URL"):
        info = {
            "system": "jenkins",
            "run_id": env.get("BUILD_ID", ""),
            "url": env.get("BUILD_URL", ""),
            "commit": env.get("GIT_COMMIT", ""),
        }
    else:
        info = {"system": "shell", "run_id": "", "url": "", "commit": ""}
    metadata = {}
    for item in args.meta or []:
        key, _, value = item.partition("=")
        if not key or not _:
            raise ValueError(f"--meta takes KEY=VALUE, not {item!r}")
        metadata[key] = value
    return {**info, "metadata": metadata}


def _gate_key(args: argparse.Namespace, client: ModelgovClient) -> Any:
    path = args.gate_key or os.environ.get("MODELGOV_GATE_KEY")
    if path:
        return load_verification_key(Path(path).read_bytes())
    _say("warning: no --gate-key pinned; using the gate key the server publishes at /api/v1/keys/")
    return load_verification_key(client.service_key("gate_decision").encode("ascii"))


def _gate(args: argparse.Namespace) -> int:
    # A fresh nonce per call, signed back in the decision: an older allow replayed to this call
    # (by a proxy, a cache or an attacker on the network) names another nonce and is refused.
    nonce = secrets.token_urlsafe(18)
    try:
        if bool(args.digest) == bool(args.path):
            raise ValueError("give exactly one of --digest or --path")
        digest = args.digest or root_digest(validate_manifest(manifest_of_directory(Path(args.path))))
        client = _client()
        pipeline = _pipeline(args)
        key = _gate_key(args, client)
        response = client.gate(
            model=args.model,
            version=args.version,
            target_stage=args.stage,
            artifact_digest=digest,
            pipeline=pipeline,
            dry_run=args.dry_run,
            promote=args.promote,
            nonce=nonce,
        )
    except (ValueError, OSError, ManifestError, DecisionInvalid) as exc:
        _say(f"modelgov gate: {exc}")
        return EXIT_USAGE
    except ApiError as exc:
        _say(f"modelgov gate: the server refused: {exc}")
        return EXIT_USAGE
    except TransportError as exc:
        _say(f"modelgov gate: {exc}")
        return EXIT_USAGE
    if args.save_decision:
        try:
            Path(args.save_decision).write_text(json.dumps(response["envelope"], indent=1), encoding="utf-8")
        except OSError as exc:
            _say(f"modelgov gate: cannot save the decision: {exc}")
            return EXIT_USAGE
    if args.json:
        print(json.dumps(response, indent=1))
    else:
        _print_checks(response)
    try:
        verified = verify_decision(
            response["envelope"],
            key,
            expect={
                "model": args.model,
                "version": args.version,
                "target_stage": args.stage,
                "artifact_digest": digest,
            },
            expect_predicate={"nonce": nonce, "dry_run": args.dry_run, "promote": args.promote},
        )
    except DecisionInvalid as exc:
        _say(f"modelgov gate: DENY (the answer is not a verified decision: {exc})")
        return EXIT_FAILED
    if verified.decision != response["decision"]:
        _say("modelgov gate: DENY (the signed decision differs from the response)")
        return EXIT_FAILED
    if verified.decision != "allow":
        _say(f"modelgov gate: DENY (decision {verified.decision_id}, audit seq {response['audit_seq']})")
        return EXIT_FAILED
    # A dry run never promotes; otherwise an allow asked to promote must say the version moved.
    if args.promote and not args.dry_run and response["promoted"] is not True:
        _say("modelgov gate: DENY (the answer is not a verified decision: it says not promoted, --promote was asked)")
        return EXIT_FAILED
    _say(f"modelgov gate: ALLOW (decision {verified.decision_id}, audit seq {response['audit_seq']})")
    return EXIT_OK


def _printable(text: object) -> str:
    """``text`` as stdout can print it: what its encoding cannot (a lone surrogate from a JSON ``\\ud800``,
    say) as a backslash escape. The answer's text is untrusted; printing it must not crash the command."""
    encoding = sys.stdout.encoding or "utf-8"
    return str(text).encode(encoding, "backslashreplace").decode(encoding)


def _print_checks(response: dict[str, Any]) -> None:
    # The unsigned body, shown as the server gave it; the verification that follows decides the exit.
    rows = [
        (_printable(check.get("name", "")), _printable(check.get("outcome", "")), _printable(check.get("reason", "")))
        for check in response.get("checks") or []
    ]
    width = max([len("check"), *(len(name) for name, _, _ in rows)])
    print(f"{'check'.ljust(width)}  outcome  reason")
    for name, outcome, reason in rows:
        print(f"{name.ljust(width)}  {outcome.ljust(7)}  {reason}")
    print(
        _printable(
            f"decision: {response.get('decision')}  (id {response.get('decision_id')}, seq {response.get('audit_seq')})"
        )
    )


def _load_private_key(path: str) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError("the signing key must be Ed25519 or ECDSA P-256 (PEM, unencrypted)")


def _register(args: argparse.Namespace) -> int:
    try:
        manifest = manifest_of_directory(Path(args.path))
        private_key = _load_private_key(args.key)
        public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        fingerprint = hashlib.sha256(public_der).hexdigest()
        signature = sign_manifest(model_name=args.model, manifest=manifest, private_key=private_key)
        metrics = json.loads(Path(args.metrics).read_text(encoding="utf-8")) if args.metrics else {}
        response = _client().register(
            model=args.model,
            artifact_uri=args.artifact_uri or Path(args.path).resolve().as_uri(),
            signature=signature,
            signing_key=fingerprint,
            training_run_id=args.run_id or "",
            metrics=metrics,
        )
    except (ValueError, OSError, ManifestError) as exc:
        _say(f"modelgov register: {exc}")
        return EXIT_USAGE
    except ApiError as exc:
        _say(f"modelgov register: refused: {exc}")
        return EXIT_FAILED
    except TransportError as exc:
        _say(f"modelgov register: {exc}")
        return EXIT_USAGE
    if args.json:
        print(json.dumps(response, indent=1))
    else:
        fields = ("model", "version", "artifact_digest")
        print(json.dumps({field: response[field] for field in fields}))
    return EXIT_OK


def _verify_decision(args: argparse.Namespace) -> int:
    try:
        envelope = json.loads(Path(args.file).read_text(encoding="utf-8"))
        key = load_verification_key(Path(args.key).read_bytes())
    except (OSError, ValueError) as exc:
        _say(f"modelgov verify-decision: cannot read input: {exc}")
        return EXIT_USAGE
    try:
        verified = verify_decision(envelope, key, expect={"artifact_digest": args.digest})
    except DecisionInvalid as exc:
        print(f"INVALID: {exc}")
        return EXIT_FAILED
    print(
        _printable(
            f"verified: {verified.decision} for {verified.model} v{verified.version} → {verified.target_stage} "
            f"({verified.artifact_digest}, decision {verified.decision_id})"
        )
    )
    return EXIT_OK if verified.decision == "allow" else EXIT_FAILED


def _verify_log(args: argparse.Namespace) -> int:
    try:
        bundle = json.loads(Path(args.bundle).read_text(encoding="utf-8"))
        key = load_public_key(Path(args.key).read_bytes())
        known = Path(args.checkpoint).read_text(encoding="utf-8") if args.checkpoint else None
    except (OSError, ValueError) as exc:
        print(f"modelgov verify-log: cannot read input: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.origin is None:
        print(
            "modelgov verify-log: warning: no --origin pinned; the bundle is verified under the origin it names",
            file=sys.stderr,
        )
    try:
        report = verify_bundle(
            bundle, key, known_checkpoint=known, check_json=not args.no_json_check, origin=args.origin
        )
    except BundleError as exc:
        where = f" (first bad seq: {exc.seq})" if exc.seq is not None else ""
        print(f"INVALID [{exc.code}]{where}: {exc}")
        return EXIT_FAILED
    print(
        f"OK: entries {report.first_seq}..{report.end_seq} of {report.origin} verified against "
        f"{report.checkpoints} signed checkpoints (tree size {report.tree_size})"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelgov", description="modelgov client and offline verifiers")
    commands = parser.add_subparsers(dest="command", required=True)
    verify_log = commands.add_parser("verify-log", help="verify an audit-log export bundle offline")
    verify_log.add_argument("bundle", help="the bundle file (GET /api/v1/audit/export or manage.py export_audit_log)")
    verify_log.add_argument("--key", required=True, help="the log's Ed25519 public key (PEM), pinned by you")
    verify_log.add_argument("--checkpoint", help="a checkpoint note you obtained earlier; the log must extend it")
    verify_log.add_argument(
        "--origin", help="the log's origin as you know it (pinned with the key); the bundle must be of that log"
    )
    verify_log.add_argument(
        "--no-json-check",
        action="store_true",
        help="do not parse every entry as JSON (about twice as fast; the hashes still cover every byte)",
    )
    verify_log.set_defaults(handler=_verify_log)

    gate = commands.add_parser("gate", help="ask the promotion gate; exit 0 only for a verified allow")
    gate.add_argument("--model", required=True)
    gate.add_argument("--version", required=True, type=int)
    gate.add_argument("--stage", required=True, choices=["staging", "production"])
    gate.add_argument("--digest", help="the artifact digest about to be deployed (sha256:…)")
    gate.add_argument("--path", help="or: the model directory about to be deployed (its digest is computed)")
    gate.add_argument(
        "--meta", action="append", help="pipeline metadata KEY=VALUE (repeatable), e.g. change_ticket=CHG-1"
    )
    gate.add_argument("--dry-run", action="store_true", help="evaluate without promoting")
    gate.add_argument("--promote", action="store_true", help="on an allow, move the version to the stage")
    gate.add_argument(
        "--gate-key", help="the gate's public key (PEM) to verify the decision with; or MODELGOV_GATE_KEY"
    )
    gate.add_argument("--save-decision", help="write the signed decision envelope to this file")
    gate.add_argument("--json", action="store_true", help="print the whole response as JSON")
    gate.set_defaults(handler=_gate)

    register = commands.add_parser("register", help="hash a model directory, sign its manifest, register it")
    register.add_argument("--model", required=True)
    register.add_argument("--path", required=True)
    register.add_argument("--key", required=True, help="the producer's private key (PEM, Ed25519 or ECDSA P-256)")
    register.add_argument("--run-id", help="the OpenLineage run id of the training run")
    register.add_argument("--artifact-uri", help="where the artifact lives (default: the directory's file URI)")
    register.add_argument("--metrics", help="a JSON file of evaluation metrics")
    register.add_argument(
        "--json", action="store_true", help="print the server's whole answer (default: model, version and digest)"
    )
    register.set_defaults(handler=_register)

    verify_decision_parser = commands.add_parser("verify-decision", help="verify a gate decision envelope offline")
    verify_decision_parser.add_argument("file", help="the envelope (or the whole gate response) as JSON")
    verify_decision_parser.add_argument("--key", required=True, help="the gate's public key (PEM), pinned by you")
    verify_decision_parser.add_argument("--digest", help="require the decision to be about this artifact digest")
    verify_decision_parser.set_defaults(handler=_verify_decision)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())

"""The CLI when the service cannot answer: its database is stopped, or nothing listens at all. The
gate fails closed: exit 2, and nothing that reads as an allow."""

from tests.hooks.cli.support import register_arguments

DIGEST = "sha256:" + "ab" * 32
GATE = ("gate", "--model", "model-b", "--version", "1", "--stage", "production", "--digest", DIGEST)


def test_readyz_reports_the_database_down(service_without_database, get_json):
    status, body = get_json(f"{service_without_database.url}/readyz")

    assert status == 503
    assert (body["code"], body["message"], list(body["extra"]["checks"])) == (
        "not_ready",
        "A dependency is not reachable.",
        ["database"],
    )
    assert body["extra"]["checks"]["database"].startswith("OperationalError: ")


def test_the_gate_exits_2_when_the_database_is_down(service_without_database, cli, gate_pub):
    result = cli(*GATE, "--gate-key", str(gate_pub), url=service_without_database.url, token="mg_any-token")

    assert (result.code, result.out) == (2, "")
    assert result.err == "modelgov gate: the server refused: 500 internal_error: An internal error occurred.\n"


def test_the_gate_exits_2_when_the_database_is_down_and_no_key_is_pinned(service_without_database, cli):
    # The published key is fetched (it needs no database), then the gate call itself fails.
    result = cli(*GATE, url=service_without_database.url, token="mg_any-token")

    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines() == [
        "warning: no --gate-key pinned; using the gate key the server publishes at /api/v1/keys/",
        "modelgov gate: the server refused: 500 internal_error: An internal error occurred.",
    ]


def test_register_exits_non_zero_when_the_database_is_down(service_without_database, cli, tmp_path):
    result = cli(
        *register_arguments(tmp_path),
        url=service_without_database.url,
        token="mg_any-token",
    )

    assert (result.code, result.out) == (1, "")
    assert result.err == "modelgov register: refused: 500 internal_error: An internal error occurred.\n"


def test_the_gate_exits_2_when_nothing_listens(cli, gate_pub, closed_port):
    url = f"http://127.0.0.1:{closed_port}"

    result = cli(*GATE, "--gate-key", str(gate_pub), url=url, token="mg_any-token")

    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"modelgov gate: cannot reach {url}: ")
    assert "ALLOW" not in result.err


def test_the_gate_without_a_url_exits_2(cli, gate_pub):
    result = cli(*GATE, "--gate-key", str(gate_pub), url="", token="mg_any-token")

    assert (result.code, result.out) == (2, "")
    assert result.err == "modelgov gate: set MODELGOV_URL (and MODELGOV_TOKEN)\n"

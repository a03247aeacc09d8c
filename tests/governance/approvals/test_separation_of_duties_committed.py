"""A separation-of-duties refusal is committed in its own transaction: the decision is refused, the
refusal stays in the audit log (proven through a second database connection)."""

import json
from typing import Any

from django.db import connections

from .support import audit_mark, open_request


def test_refusal_is_committed_even_though_the_decision_is_refused(transactional_db: None, cast: Any, api: Any) -> None:
    client = api(cast.owner_a)
    request = open_request(cast.dev_a, cast.version_a)
    mark = audit_mark()

    response = client.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")

    assert (response.status_code, response.json()["extra"]["rule"]) == (403, "owner_cannot_approve")
    # Read through a second connection: only committed rows are visible there.
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT event_type, actor_name, model_name, after FROM governance_auditentry WHERE id > %s ORDER BY id",
                [mark],
            )
            rows = cursor.fetchall()
            cursor.execute("SELECT count(*) FROM governance_approvaldecision WHERE request_id = %s", [request.pk])
            decisions = cursor.fetchone()
            cursor.execute("SELECT state, current_step FROM governance_approvalrequest WHERE id = %s", [request.pk])
            state = cursor.fetchone()
    finally:
        other.close()
    assert [
        (event, actor, model, json.loads(after) if isinstance(after, str) else after)
        for event, actor, model, after in rows
    ] == [
        (
            "SEPARATION_OF_DUTIES_REFUSED",
            "owner-a",
            "model-a",
            {"rule": "owner_cannot_approve", "step": 1, "state": "in_review"},
        )
    ]
    assert (decisions, state) == ((0,), ("in_review", 0))

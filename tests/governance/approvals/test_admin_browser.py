"""The compliance workspace in a real browser (Playwright driving Chromium against the live server)."""

import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from governance.approvals.services import approval_policy_create_version
from governance.choices import Role
from governance.models import ApprovalDecision, ApprovalRequest
from tests.factories import UserFactory, make_version, role

from .support import (
    MEDIUM_STEPS,
    approve_all,
    audit_mark,
    audit_since,
    decide,
    open_request,
    state_changed,
    step_decided,
)

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable is not None, "Chromium is not installed"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(transactional_db: None, live_server: Any, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def log_in(page: Page, user: Any, then: str) -> None:
    page.goto(f"/admin/login/?next={then}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


def column(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def test_officer_works_through_the_queue(page: Page, cast: Any) -> None:
    older_policy = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    approval_policy_create_version(
        actor=cast.officer, risk_tier="medium", target_stage="staging", steps=MEDIUM_STEPS, approval_lifetime_days=200
    )
    current_policy = decide(
        open_request(cast.dev_a, make_version(model=cast.model_m, actor=cast.ci_a, seed="m2")), cast.validator
    )
    open_request(cast.dev_a, cast.version_a)  # waiting for validators, not for the officer
    approve_all(cast, open_request(cast.ci_b, cast.version_b))  # decided

    log_in(page, cast.officer, "/admin/governance/approvalrequest/?queue=mine")

    assert sorted(int(text) for text in column(page, "#result_list tbody th.field-id")) == [
        older_policy.pk,
        current_policy.pk,
    ]

    page.locator("#result_list th.field-id a").filter(has_text=re.compile(f"^{older_policy.pk}$")).click()
    page.wait_for_selector("#verification")
    assert [
        tuple(cell.strip() for cell in row.locator("td").all_inner_texts())
        for row in page.locator("#verification tbody tr").all()
    ] == [
        ("digest", "ok", ""),
        ("producer_signature", "ok", ""),
        ("signing_key_active", "ok", ""),
        ("countersignature", "ok", ""),
    ]
    decisions = page.locator("#decisions-group tbody tr.has_original").all_inner_texts()
    assert len(decisions) == 1
    assert "validator" in decisions[0] and "approve" in decisions[0]
    assert column(page, "#audit tbody tr td:nth-child(3)") == [
        "APPROVAL_REQUESTED",
        "APPROVAL_STATE_CHANGED",
        "APPROVAL_STATE_CHANGED",
        "APPROVAL_STEP_DECIDED",
        "APPROVAL_STATE_CHANGED",
    ]
    assert column(page, "#audit tbody tr td:nth-child(4)") == ["dev-a", "dev-a", "dev-a", "validator", "validator"]
    assert "the policy has changed since; this request keeps the version it started under" in page.inner_text(
        "#content"
    )

    mark = audit_mark()
    page.select_option("#decide select[name=decision]", "approve")
    page.click("#decide input[name=record-decision]")
    page.wait_for_selector(".messagelist")

    assert "Recorded: approve." in page.inner_text(".messagelist")
    assert "This request takes no decisions (it is approved)." in page.inner_text("#decide")
    older_policy.refresh_from_db()
    assert older_policy.state == "approved"
    assert audit_since(mark) == [
        step_decided("officer", older_policy, step=2),
        state_changed("officer", "model-m", "in_review", "approved", steps=2),
    ]

    page.goto(f"/admin/governance/approvalrequest/{current_policy.pk}/change/")
    assert "(the current version)" in page.inner_text("#content")


def test_validator_rejects_with_the_action(page: Page, cast: Any) -> None:
    validator = UserFactory(username="validator-staff", groups=[role(Role.VALIDATOR)], is_staff=True)
    request = open_request(cast.dev_a, cast.version_a)
    other = open_request(cast.dev_a, cast.version_m)
    comment = "Fairness audit missing for the age groups."

    log_in(page, validator, "/admin/governance/approvalrequest/")
    page.check(f"#result_list input[name=_selected_action][value='{request.pk}']")
    page.select_option("select[name=action]", "reject_selected")
    page.click("button[name=index]")

    page.wait_for_selector("#id_comment")
    assert "Reject promotion requests" in page.inner_text("#content")
    assert column(page, "#content ul li") == [str(request)]
    mark = audit_mark()
    page.fill("#id_comment", comment)
    page.click("input[type=submit][value=Reject]")
    page.wait_for_selector(".messagelist")

    assert f"Request {request.pk}: rejected." in page.inner_text(".messagelist")
    request.refresh_from_db()
    other.refresh_from_db()
    assert (request.state, other.state) == ("rejected", "in_review")
    assert list(
        ApprovalDecision.objects.filter(request=request).values_list("approver__username", "decision", "comment")
    ) == [("validator-staff", "reject", comment)]
    assert audit_since(mark) == [
        step_decided("validator-staff", request, step=1, decision="reject", comment=comment),
        state_changed("validator-staff", "model-a", "in_review", "rejected", steps=2, reason=comment),
    ]
    assert ApprovalRequest.objects.filter(state="rejected").count() == 1

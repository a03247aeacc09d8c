"""The compliance workspace in a real browser: Debian's Chromium driven by Playwright against a live
server, logged in as a compliance officer."""

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from governance.choices import Role
from governance.models import AuditEntry
from tests.factories import GroupFactory, RegisteredModelFactory, UserFactory, make_version, role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

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
PASSWORD = "pw"
T = TypeVar("T")


class BrowserThread:
    """Chromium, driven from a thread of its own.

    Playwright's sync API keeps an asyncio loop running in the thread that uses it. In that thread
    Django refuses ORM calls (SynchronousOnlyOperation) and, because its connections are context-local,
    the test database's serialized rollback data is not found. The browser therefore lives here and
    tests hand it work; the test thread keeps the database.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Browser], Any], Future[Any]] | None] = queue.Queue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._serve, name="playwright", daemon=True)

    def _serve(self) -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                self._ready.set_result(None)
                while (job := self._jobs.get()) is not None:
                    work, result = job
                    try:
                        result.set_result(work(browser))
                    except BaseException as exc:  # handed to the test thread, which re-raises it
                        result.set_exception(exc)
                browser.close()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)

    def start(self) -> None:
        self._thread.start()
        self._ready.result(timeout=60)

    def run(self, work: Callable[[Browser], T]) -> T:
        result: Future[T] = Future()
        self._jobs.put((work, result))
        return result.result(timeout=120)

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def chromium() -> Iterator[BrowserThread]:
    thread = BrowserThread()
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def inventory() -> dict[str, Any]:
    team = GroupFactory(name="team-a")
    owner = UserFactory(username="owner-a", groups=[role(Role.MODEL_OWNER), team])
    ci = UserFactory(username="ci-a", groups=[role(Role.CI_PIPELINE), team])
    officer = UserFactory(username="carla", is_staff=True, groups=[role(Role.COMPLIANCE_OFFICER)])
    models = {
        name: RegisteredModelFactory(name=name, team=team, owner=owner, risk_tier=tier)
        for name, tier in [("pd-model", "high"), ("churn", "low"), ("fraud-scorer", "high"), ("limits", "medium")]
    }
    versions = [make_version(model=models["pd-model"], actor=ci, seed=f"pd-{n}") for n in (1, 2)]
    return {"officer": officer, "models": models, "versions": versions}


def as_officer(base_url: str, username: str, steps: Callable[[Page], T]) -> Callable[[Browser], T]:
    """Browser work: log in to the admin as ``username`` in a fresh context, then run ``steps``."""

    def work(browser: Browser) -> T:
        context = browser.new_context(base_url=base_url)
        context.set_default_timeout(15_000)
        try:
            page = context.new_page()
            page.goto("/admin/login/?next=/admin/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#user-tools")).to_contain_text(username)
            return steps(page)
        finally:
            context.close()

    return work


def listed_names(page: Page) -> list[str]:
    return page.locator("#result_list tbody th.field-name a").all_inner_texts()


def test_officer_filters_the_inventory_by_risk_tier(chromium, live_server, inventory):
    def steps(page: Page) -> dict[str, Any]:
        page.goto("/admin/registry/registeredmodel/")
        before = listed_names(page)
        page.locator("#changelist-filter").get_by_role("link", name="High", exact=True).click()
        expect(page).to_have_url(f"{live_server.url}/admin/registry/registeredmodel/?risk_tier__exact=high")
        return {
            "before": before,
            "after": listed_names(page),
            "selected": page.locator(
                '#changelist-filter [data-filter-title="risk tier"] li.selected'
            ).all_inner_texts(),
        }

    seen = chromium.run(as_officer(live_server.url, "carla", steps))

    assert seen["before"] == ["churn", "fraud-scorer", "limits", "pd-model"]
    assert seen["after"] == ["fraud-scorer", "pd-model"]
    assert seen["selected"] == ["High"]


def test_model_page_shows_its_versions_inline(chromium, live_server, inventory):
    model = inventory["models"]["pd-model"]

    def steps(page: Page) -> dict[str, Any]:
        page.goto(f"/admin/registry/registeredmodel/{model.pk}/change/")
        inline = page.locator("#versions-group")
        expect(inline).to_be_visible()
        return {
            "versions": inline.locator("td.field-version").all_inner_texts(),
            "digests": inline.locator("td.field-artifact_digest").all_inner_texts(),
            "creators": inline.locator("td.field-created_by").all_inner_texts(),
            "editable": inline.locator("input:not([type=hidden]), select, textarea").count(),
        }

    seen = chromium.run(as_officer(live_server.url, "carla", steps))

    newest, oldest = inventory["versions"][1], inventory["versions"][0]
    assert seen == {
        "versions": ["2", "1"],
        "digests": [newest.artifact_digest, oldest.artifact_digest],
        "creators": ["ci-a", "ci-a"],
        "editable": 0,
    }


def test_audit_log_has_no_add_button_and_no_save_button(chromium, live_server, inventory):
    entries = AuditEntry.objects.count()

    def steps(page: Page) -> dict[str, Any]:
        page.goto("/admin/governance/auditentry/")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(entries)
        seen = {
            "add_buttons": page.locator(".object-tools a.addlink").count(),
            "add_links": page.get_by_role("link", name="Add audit entry").count(),
        }
        rows.first.locator("th a").click()
        form = page.locator("#auditentry_form")
        expect(form).to_be_visible()
        seen.update(
            title=page.locator("#content h1").inner_text(),
            save_buttons=page.locator("input[name=_save], input[name=_continue], input[name=_addanother]").count(),
            editable=form.locator("input:not([type=hidden]), select, textarea").count(),
            delete_links=page.locator("a.deletelink").count(),
        )
        return seen

    seen = chromium.run(as_officer(live_server.url, "carla", steps))

    assert entries == 7  # four models created, the team key registered, two versions registered
    assert seen == {
        "add_buttons": 0,
        "add_links": 0,
        "title": "View audit entry",
        "save_buttons": 0,
        "editable": 0,
        "delete_links": 0,
    }

"""The compliance workspace: a version's page shows its upstream lineage, a dataset's page what it feeds."""

import re
from html.parser import HTMLParser

import pytest

from governance.approvals.services import approval_request_create, approval_request_decide
from registry.lineage.services import deployment_record, deployment_retire
from registry.models import LineageSnapshot

from .support import APPLICATIONS, CHURN_FEATURES, CREDIT_ARTIFACT, CREDIT_MV, RUN_SPARK, ingest_recorded, node_id


class _Section(HTMLParser):
    """The rows (cell texts) and list items of the element with a given id."""

    def __init__(self, element_id):
        super().__init__()
        self.element_id = element_id
        self.depth = 0
        self.rows = []
        self.items = []
        self.links = []
        self._cell = None
        self._row = None
        self._item = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self.depth == 0:
            if attributes.get("id") == self.element_id:
                self.depth = 1
            return
        self.depth += 1
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "li":
            self._item = ""
        elif tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])

    def handle_endtag(self, tag):
        if self.depth == 0:
            return
        self.depth -= 1
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "li" and self._item is not None:
            self.items.append(re.sub(r"\s+", " ", self._item).strip())
            self._item = None

    def handle_data(self, data):
        if self.depth == 0:
            return
        if self._cell is not None:
            self._cell += data
        if self._item is not None:
            self._item += data


def section(html, element_id):
    parser = _Section(element_id)
    parser.feed(html)
    return parser


def version_url(version):
    return f"/admin/registry/modelversion/{version.pk}/change/"


def node_url(pk):
    return f"/admin/registry/lineagenode/{pk}/change/"


def test_a_version_page_shows_its_upstream_lineage(world, admin_client_for):
    ingest_recorded(world.ci_a)

    response = admin_client_for(world.officer).get(version_url(world.credit_v1))

    assert response.status_code == 200
    upstream = section(response.content.decode(), "upstream-lineage")
    assert upstream.rows == [
        ["depth", "type", "namespace", "name"],
        ["0", "model_version", "modelgov", "credit-default-pd/1"],
        ["1", "dataset", "s3://modelgov-demo-artifacts", "credit-default-pd/3"],
        ["1", "run", "spark://ml-cluster", "01927758-d2bc-74e0-8dbf-b11bd076f606"],
        ["2", "dataset", "s3://modelgov-demo-features", "credit/applicant_features/2026-10-31"],
        ["2", "job", "spark://ml-cluster", "credit_default_pd.train_gbm"],
        ["3", "run", "airflow://credit-risk", "0192775a-1c0e-7a44-9b1e-6a2f5c3d9e01"],
        ["4", "dataset", "postgres://warehouse.internal:5432", "credit.public.applications"],
        ["4", "dataset", "postgres://warehouse.internal:5432", "credit.public.bureau_reports"],
        ["4", "job", "airflow://credit-risk", "credit_features.build_applicant_features"],
    ]
    assert upstream.links[:2] == [node_url(node_id(*CREDIT_MV)), node_url(node_id(*CREDIT_ARTIFACT))]
    assert section(response.content.decode(), "lineage-snapshots").items == ["None yet."]


def test_a_version_without_lineage_says_so(world, admin_client_for):
    response = admin_client_for(world.officer).get(version_url(world.version_a1))

    assert response.status_code == 200
    upstream = section(response.content.decode(), "upstream-lineage")
    assert upstream.rows == [["depth", "type", "namespace", "name"], ["0", "model_version", "modelgov", "model-a/1"]]


def test_a_version_page_lists_its_frozen_lineage(world, admin_client_for):
    ingest_recorded(world.ci_b, "dbt_churn_features_complete.json", "airflow_churn_train_complete.json")
    request = approval_request_create(actor=world.ci_b, model_version=world.churn_v1, target_stage="production")
    approval_request_decide(actor=world.validator, request=request, decision="approve")
    snapshot = LineageSnapshot.objects.get()

    response = admin_client_for(world.officer).get(version_url(world.churn_v1))

    assert response.status_code == 200
    items = section(response.content.decode(), "lineage-snapshots").items
    assert items == [f"{snapshot.created_at:%Y-%m-%d %H:%M}: sha256 {snapshot.sha256} (8 nodes)"]


@pytest.fixture
def deployed(world):
    ingest_recorded(world.ci_a)
    active = deployment_record(
        actor=world.ci_a, version=world.credit_v1, environment="prod-eu", endpoint="https://models.example/credit"
    )
    retired = deployment_record(actor=world.ci_a, version=world.credit_v1, environment="staging")
    deployment_retire(actor=world.ci_a, deployment=retired)
    return active


def test_a_dataset_page_shows_what_it_feeds(world, admin_client_for, deployed):
    response = admin_client_for(world.officer).get(node_url(node_id(*APPLICATIONS)))

    assert response.status_code == 200
    impact = section(response.content.decode(), "impact")
    assert impact.items == [
        "credit-default-pd v1 (none)",
        "credit-default-pd v1 in prod-eu https://models.example/credit",
    ]


def test_a_dataset_feeding_no_model_shows_none(world, admin_client_for):
    ingest_recorded(world.ci_a, "airflow_credit_features_start.json")

    response = admin_client_for(world.officer).get(node_url(node_id(*APPLICATIONS)))

    assert response.status_code == 200
    assert section(response.content.decode(), "impact").items == ["None.", "None."]


def test_a_run_page_shows_its_neighbourhood_and_no_impact(world, admin_client_for):
    ingest_recorded(world.ci_a)

    response = admin_client_for(world.officer).get(node_url(node_id(*RUN_SPARK)))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="impact"' not in html
    assert section(html, "neighbourhood").rows == [
        ["depth", "type", "namespace", "name"],
        ["0", "run", "spark://ml-cluster", "01927758-d2bc-74e0-8dbf-b11bd076f606"],
        ["1", "dataset", "s3://modelgov-demo-artifacts", "credit-default-pd/3"],
        ["1", "dataset", "s3://modelgov-demo-features", "credit/applicant_features/2026-10-31"],
        ["1", "job", "spark://ml-cluster", "credit_default_pd.train_gbm"],
        ["1", "model_version", "modelgov", "credit-default-pd/1"],
        ["2", "run", "airflow://credit-risk", "0192775a-1c0e-7a44-9b1e-6a2f5c3d9e01"],
        ["3", "dataset", "postgres://warehouse.internal:5432", "credit.public.applications"],
        ["3", "dataset", "postgres://warehouse.internal:5432", "credit.public.bureau_reports"],
        ["3", "job", "airflow://credit-risk", "credit_features.build_applicant_features"],
    ]


def test_an_auditor_reads_the_pages_too(world, admin_client_for, deployed):
    client = admin_client_for(world.auditor)

    version_page = client.get(version_url(world.credit_v1))
    dataset_page = client.get(node_url(node_id(*CHURN_FEATURES)))

    assert (version_page.status_code, dataset_page.status_code) == (200, 200)
    assert len(section(version_page.content.decode(), "upstream-lineage").rows) == 10
    assert section(dataset_page.content.decode(), "impact").items == ["churn-propensity v1 (none)", "None."]

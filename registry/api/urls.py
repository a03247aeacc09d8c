from django.urls import re_path

from registry.api import lineage_views, views

# A trailing slash is optional on every route: pipelines write both.
NAME = r"(?P<name>[a-z0-9][a-z0-9-]{0,99})"

urlpatterns = [
    re_path(r"^models/?$", views.RegisteredModelListCreateApi.as_view(), name="model-list"),
    re_path(rf"^models/{NAME}/?$", views.RegisteredModelDetailApi.as_view(), name="model-detail"),
    re_path(rf"^models/{NAME}/versions/?$", views.ModelVersionListCreateApi.as_view(), name="version-list"),
    re_path(
        rf"^models/{NAME}/versions/(?P<version>[0-9]{{1,9}})/?$",
        views.ModelVersionDetailApi.as_view(),
        name="version-detail",
    ),
    re_path(
        rf"^models/{NAME}/versions/(?P<version>[0-9]{{1,9}})/verify/?$",
        views.ModelVersionVerifyApi.as_view(),
        name="version-verify",
    ),
    re_path(r"^lineage/?$", lineage_views.LineageIngestApi.as_view(), name="lineage-ingest"),
    re_path(r"^lineage/graph/?$", lineage_views.LineageGraphApi.as_view(), name="lineage-graph"),
    re_path(r"^lineage/impact/?$", lineage_views.LineageImpactApi.as_view(), name="lineage-impact"),
    re_path(r"^deployments/?$", lineage_views.DeploymentListCreateApi.as_view(), name="deployment-list"),
    re_path(
        r"^deployments/(?P<pk>[0-9]{1,18})/retire/?$",
        lineage_views.DeploymentRetireApi.as_view(),
        name="deployment-retire",
    ),
    re_path(r"^keys/?$", views.ServiceKeyListApi.as_view(), name="service-keys"),
    re_path(r"^signing-keys/?$", views.SigningKeyListCreateApi.as_view(), name="signing-key-list"),
    re_path(
        r"^signing-keys/(?P<fingerprint>[0-9a-f]{64})/revoke/?$",
        views.SigningKeyRevokeApi.as_view(),
        name="signing-key-revoke",
    ),
]

"""URL map: the admin, the API under /api/v1/, its schema and docs, and the operations endpoints."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from core import views as ops

admin.site.site_header = "modelgov compliance workspace"
admin.site.site_title = "modelgov"
admin.site.index_title = "Inventory, approvals and evidence"

handler404 = "core.exceptions.handler404"
handler500 = "core.exceptions.handler500"

api_v1 = [
    path("", include("registry.api.urls")),
    path("", include("governance.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
]

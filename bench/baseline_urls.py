"""URL map of the read benchmark: the product's URLs plus ``/bench/bare``, never part of the product.

``/bench/bare`` is the floor a read endpoint can reach on this stack: the same middleware and JSON
renderer as the API, no authentication, no permission check, one ``SELECT`` of one row.
"""

from typing import Any

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.models import ModelVersion

handler404 = "core.exceptions.handler404"
handler500 = "core.exceptions.handler500"


class BareReadApi(APIView):
    """One model version as a plain dict: one query, nothing else."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(ModelVersion.objects.values().first())


urlpatterns = [
    path("bench/bare", BareReadApi.as_view(), name="bench-bare"),
    path("", include("config.urls")),
]

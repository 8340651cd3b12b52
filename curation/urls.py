"""Manager pages: routing (judges, features, budget curve) and the curation dashboard."""

from django.urls import include, path

urlpatterns = [
    path("", include("curation.routing_urls")),
    path("", include("curation.dashboard_urls")),
]

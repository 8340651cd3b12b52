"""The URLconf. Every page of a project lives under /p/<project_id>/ (annotate, curation, workers
each add theirs there, in their own namespace); the REST API lives under /api/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from annotate.login_throttle import ThrottledAdminLoginForm, ThrottledLoginForm

admin.site.login_form = ThrottledAdminLoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(authentication_form=ThrottledLoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/annotate/", include("annotate.api_urls")),
    path("api/", include("curation.api_urls")),
    path("api/", include("workers.api_urls")),
    path("", include("annotate.urls")),
    path("", include("curation.urls")),
    path("", include("workers.urls")),
]

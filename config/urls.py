from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotate.login_throttle import ThrottledAdminLoginForm, ThrottledLoginForm

admin.site.login_form = ThrottledAdminLoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(authentication_form=ThrottledLoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("curation.api_urls")),
    path("curation/", include("curation.urls")),
    path("runs/", include("workers.urls")),
    path("", include("annotate.urls")),
]

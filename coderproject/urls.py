from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from coderproject import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("api/v2/buildinfo", views.buildinfo, name="buildinfo"),
    path("api/v2/experiments", views.experiment_list, name="experiments"),
    path("api/v2/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("admin/", admin.site.urls),
    path("", include("oauth.urls")),
    path("", include("oauth.oauth2.urls")),
    path("", include("workspaces.urls")),
]

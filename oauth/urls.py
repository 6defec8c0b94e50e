from django.contrib.auth import views as auth_views
from django.urls import path

from coderproject.experiments import OAUTH2, require
from oauth import api, views
from oauth.oauth2 import views as oauth2_views

urlpatterns = [
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/tokens", views.tokens, name="tokens"),
    path("settings/tokens/<str:key_id>/delete", views.token_delete, name="token-delete"),
    path("api/v2/users/me", api.user_me, name="api-user-me"),
    path("settings/authorized-apps", require(OAUTH2)(oauth2_views.authorized_applications), name="authorized-apps"),
    path("api/v2/users/<str:user>/keys/tokens", api.token_list_create, name="api-tokens"),
    path("api/v2/users/<str:user>/keys/tokens/<str:name>", api.token_by_name, name="api-token-by-name"),
    path("api/v2/users/<str:user>/keys/<str:key_id>", api.token_by_id, name="api-token"),
]

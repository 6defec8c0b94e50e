"""The authorization server's routes, under DOT's ``oauth2_provider`` namespace (DOT's
metadata views reverse these names). Every route needs the ``oauth2`` experiment.

Paths follow Coder's (``/oauth2/...``); the well-known documents sit at the site root as
RFC 8414 and RFC 9728 require. Introspection and DOT's device, OIDC and application
management routes are deliberately not mounted.
"""

from django.urls import path
from oauth2_provider import views as dot_views

from coderproject.experiments import OAUTH2, require
from oauth.oauth2 import views
from oauth.oauth2.policy import MCP_PATH

app_name = "oauth2_provider"

urlpatterns = [
    path(
        ".well-known/oauth-authorization-server",
        require(OAUTH2)(dot_views.OAuthServerMetadataView.as_view()),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        require(OAUTH2)(dot_views.OAuthProtectedResourceMetadataView.as_view()),
        name="oauth-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource" + MCP_PATH,
        require(OAUTH2)(dot_views.OAuthProtectedResourceMetadataView.as_view()),
        name="oauth-resource-metadata-mcp",
    ),
    path("oauth2/authorize", require(OAUTH2)(views.AuthorizationView.as_view()), name="authorize"),
    path("oauth2/tokens", require(OAUTH2)(views.TokenView.as_view()), name="token"),
    path("oauth2/revoke", require(OAUTH2)(dot_views.RevokeTokenView.as_view()), name="revoke-token"),
    path("oauth2/register", require(OAUTH2)(views.RegistrationView.as_view()), name="dcr-register"),
    path(
        "oauth2/clients/<str:client_id>",
        require(OAUTH2)(views.RegistrationManagementView.as_view()),
        name="dcr-register-management",
    ),
]

from django.contrib.auth import views as auth_views
from django.urls import path

from oauth import api, views

urlpatterns = [
    path("login", views.LoginView.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v2/users/me", api.user_me, name="api-user-me"),
]

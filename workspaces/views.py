from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from oauth.connect import connect_context
from workspaces.selectors import workspace_list_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's workspaces, and how to connect an assistant to work on them."""
    page = workspace_list_for_user(actor=request.user, owner="me")
    return render(request, "home.html", {"workspaces": page.workspaces, "connect": connect_context()})

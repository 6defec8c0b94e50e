from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from oauth.connect import connect_context


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"connect": connect_context()})

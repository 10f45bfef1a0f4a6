"""A small shop behind VisitMiddleware, for the visit tests."""

from django.http import HttpResponse, JsonResponse
from django.urls import path

from .urls import urlpatterns as base


def page(request, name="home"):
    return HttpResponse(f"<html><body><h1>{name}</h1></body></html>")


def data(request):
    return JsonResponse({"ok": True})


def missing(request):
    return HttpResponse("<html>gone</html>", status=404)


def stylesheet(request):
    return HttpResponse("<html>not really css</html>")


urlpatterns = [
    *base,
    path("shop/", page),
    path("shop/<str:name>/", page),
    path("api/prices.json", data),
    path("missing/", missing),
    path("static/site.css", stylesheet),
    path("private/page/", page),
]

"""The test URLs plus django-anymail's webhook views (tests/test_esp.py)."""

from django.urls import include, path

from .urls import urlpatterns as base

urlpatterns = [*base, path("anymail/", include("anymail.urls"))]

"""Fixtures of the API tests: clients for each kind of caller and event helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from django_leadpixel.models import Click, Open

from ..conftest import make_message  # noqa: F401  (re-exported for the API tests)

API = "/api/leadpixel/"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def make_open(message, *, at=None, source="human", **fields) -> Open:
    return Open.objects.create(message=message, occurred_at=at or T0, source=source, **fields)


def make_click(message, *, at=None, source="human", url="https://shop.example.com/offer",
               position=0, **fields) -> Click:
    return Click.objects.create(message=message, occurred_at=at or T0, source=source, url=url,
                                position=position, **fields)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


# What the default LEADPIXEL["API_PERMISSION_CLASSES"] asks of a caller who uses the whole API.
API_PERMISSIONS = ("view_message", "add_message", "view_open", "view_click", "view_download",
                   "view_visit")


def user_with(username: str, *codenames: str, **fields):
    """A user holding these django_leadpixel permissions (codenames), and nothing else."""
    user = get_user_model().objects.create_user(username, f"{username}@example.com", None,
                                                **fields)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="django_leadpixel", codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)  # no stale permission cache


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def staff(db):
    """A staff user with the model permissions the whole API needs (the default rule)."""
    return user_with("staff", *API_PERMISSIONS, is_staff=True)


@pytest.fixture
def api(staff):
    """A client authenticated as ``staff``."""
    return client_for(staff)


@pytest.fixture
def anonymous(db):
    return APIClient()


@pytest.fixture
def member(db):
    """An authenticated user who is not staff."""
    user = get_user_model().objects.create_user("member", "member@example.com", None)
    client = APIClient()
    client.force_authenticate(user)
    return client

"""Who may use the API: ``LEADPIXEL["API_PERMISSION_CLASSES"]``, admin users by default.

Authentication is the host project's DRF configuration
(``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``); only the permission
check is ours, read at request time so ``override_settings`` works.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from ..conf import app_settings


def api_permissions() -> list[BasePermission]:
    return [permission() for permission in app_settings.API_PERMISSION_CLASSES]


class LeadpixelPermissionsMixin:
    """Mixed into every API view (the schema view included)."""

    def get_permissions(self) -> list[BasePermission]:
        return api_permissions()

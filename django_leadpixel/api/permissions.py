"""Who may use the API: ``LEADPIXEL["API_PERMISSION_CLASSES"]``, Django's model
permissions by default (:class:`ModelPermissions`).

Authentication is the host project's DRF configuration
(``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``); only the permission
check is ours, read at request time so ``override_settings`` works.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions

from ..conf import app_settings

VIEW = "%(app_label)s.view_%(model_name)s"


class ModelPermissions(DjangoModelPermissions):
    """The admin's rule for the API: ``view_<model>`` to read (GET, HEAD, OPTIONS),
    ``add_<model>`` to POST, as ``DjangoModelPermissions`` does for writes.

    Each view names the models it reads (``permission_models``; by default its
    queryset's model): a message's events need ``view_open`` and ``view_click``,
    ``stats/`` needs ``view_message``. As in the admin, the change permission of
    a model also lets its holder read it. Anonymous callers are refused (401 or
    403, as the host's authentication answers). Being staff grants nothing by
    itself, and is not required: a sending service can hold ``add_message`` only.
    """

    perms_map = {**DjangoModelPermissions.perms_map,
                 "GET": [VIEW], "HEAD": [VIEW], "OPTIONS": [VIEW]}

    def _allowed(self, user, method: str, model) -> bool:
        if user.has_perms(self.get_required_permissions(method, model)):
            return True
        return method in SAFE_METHODS and user.has_perms(
            self.get_required_permissions("PUT", model))

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or (not user.is_authenticated and self.authenticated_users_only):
            return False
        if request.method not in view.allowed_methods:
            return True  # the view answers 405 Method Not Allowed, whatever the permissions
        any_of = getattr(view, "permission_any_of", None)
        if any_of is not None:  # the schema: whoever may use one endpoint may read it
            return any(self._allowed(user, method, model) for method, model in any_of)
        models = getattr(view, "permission_models", None) or (self._queryset(view).model,)
        return all(self._allowed(user, request.method, model) for model in models)


class DenyAll(BasePermission):
    """What an empty ``API_PERMISSION_CLASSES`` gives: nobody (check ``leadpixel.E010``)."""

    def has_permission(self, request, view) -> bool:
        return False


def api_permissions() -> list[BasePermission]:
    classes = app_settings.API_PERMISSION_CLASSES
    # DRF allows every request when a view has no permission class. An empty list
    # is far likelier a mistake than a wish (that is spelled AllowAny): it closes
    # the API instead of opening it.
    return [permission() for permission in classes] if classes else [DenyAll()]


class LeadpixelPermissionsMixin:
    """Mixed into every API view (the schema view included)."""

    def get_permissions(self) -> list[BasePermission]:
        return api_permissions()

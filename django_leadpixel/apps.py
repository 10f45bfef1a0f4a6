from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadPixelConfig(AppConfig):
    name = "django_leadpixel"
    label = "django_leadpixel"
    verbose_name = _("Lead pixel")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

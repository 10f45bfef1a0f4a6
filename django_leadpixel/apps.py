from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadPixelConfig(AppConfig):
    name = "django_leadpixel"
    label = "django_leadpixel"
    verbose_name = _("Lead pixel")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once the models are loaded (Django's rule for AppConfig):
        # checks registers the system checks; ingest announces stored events and
        # the task that enriches them is connected here, so ingest never
        # imports the tasks (django-post-office's apps.py does the same).
        from . import checks, signals, tasks  # noqa: F401

        signals.events_stored.connect(tasks.enrich_stored, dispatch_uid="leadpixel-enrich")

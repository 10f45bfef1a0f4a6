from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate
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
        from .reports import leads

        signals.events_stored.connect(tasks.enrich_stored, dispatch_uid="leadpixel-enrich")
        # The lead view is made from the event kinds: dropped before each migrate
        # (PostgreSQL refuses to alter a column a view reads), made again after it.
        pre_migrate.connect(leads.before_migrate, sender=self, dispatch_uid="leadpixel-lead-view")
        post_migrate.connect(leads.after_migrate, sender=self, dispatch_uid="leadpixel-lead-view")
        connect_anymail()


def connect_anymail() -> None:
    """With django-anymail installed, its tracking signal's opens and clicks land as
    events (``ingest.esp``), and our own later events replace the ESP's copies."""
    from . import signals
    from .ingest import esp

    try:
        from anymail.signals import tracking
    except ImportError:
        return
    tracking.connect(esp.receive, dispatch_uid="leadpixel-anymail-tracking")
    signals.events_stored.connect(esp.drop_duplicates, dispatch_uid="leadpixel-anymail-dedup")

"""The Celery app of the test settings (the package itself creates none)."""

from celery import Celery

app = Celery("leadpixel_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.set_default()

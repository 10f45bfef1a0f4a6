"""Include with ``path("api/leadpixel/", include("django_leadpixel.api.urls"))``."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import leads, views

app_name = "leadpixel-api"

router = SimpleRouter()
router.register("messages", views.MessageViewSet, basename="message")
router.register("opens", views.OpenViewSet, basename="open")
router.register("clicks", views.ClickViewSet, basename="click")
router.register("downloads", views.DownloadViewSet, basename="download")

urlpatterns = [
    re_path(rf"^messages/(?P<public_id>{views.MessageViewSet.lookup_value_regex})/events/$",
            views.MessageEventsView.as_view(), name="message-events"),
    path("stats/", views.StatsView.as_view(), name="stats"),
    path("leads/", leads.LeadListView.as_view(), name="lead-list"),
    re_path(r"^leads/(?P<email>[^/]+)/$", leads.LeadDetailView.as_view(), name="lead-detail"),
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("docs/", views.SwaggerView.as_view(), name="docs"),
    path("redoc/", views.RedocView.as_view(), name="redoc"),
    path("", views.ApiRootView.as_view(), name="root"),
    *router.urls,
]

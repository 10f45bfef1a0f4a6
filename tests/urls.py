from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("t/", include("django_leadpixel.urls")),
    path("api/leadpixel/", include("django_leadpixel.api.urls")),
]

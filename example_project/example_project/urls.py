import os

from demo.views import shop
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("t/", include("django_leadpixel.urls")),
    path("api/leadpixel/", include("django_leadpixel.api.urls")),
    # The sender's own site, behind VisitMiddleware (README "From click to lead").
    path("shop/", shop),
    path("shop/<slug:item>/", shop),
]

if os.environ.get("LEADPIXEL_BENCH_VIEWS") == "1":  # benchmarks/pixel.py
    urlpatterns.append(path("bench/", include("benchviews.urls")))

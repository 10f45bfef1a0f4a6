from django.urls import path, re_path

from . import views

app_name = "leadpixel"

# The patterns accept any token text: the views decide. A garbage pixel token
# must still get the GIF (not a 404 image) and a garbage click token a 404.
urlpatterns = [
    re_path(r"^o/(?P<token>[\s\S]*)\.gif$", views.pixel, name="open"),
    re_path(r"^c/(?P<token>[^/]*)/?$", views.click, name="click"),
    re_path(r"^i/(?P<token>[^/]*)/(?P<slug>[^/]*)\.(?P<ext>[A-Za-z0-9]{1,10})$", views.image,
            name="image"),
    re_path(r"^d/(?P<token>[^/]*)/(?P<slug>[^/]*)\.(?P<ext>[A-Za-z0-9]{1,10})$", views.download,
            name="download"),
    path("v/", views.beacon, name="beacon"),
]

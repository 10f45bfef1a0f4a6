from django.urls import path

from . import views

urlpatterns = [
    path("gif", views.gif, name="bench-gif"),
    path("insert", views.insert, name="bench-insert"),
    path("push", views.push, name="bench-push"),
]

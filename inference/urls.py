from django.urls import re_path

from inference import views

urlpatterns = [
    re_path(
        r"^stimuli/(?P<sha256>[0-9a-f]{64})\.(?P<extension>png|jpg)$",
        views.stimulus,
        name="stimulus",
    ),
]

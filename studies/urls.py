from django.urls import path

from studies import views

urlpatterns = [
    path("s/<slug:slug>/", views.participant_page, name="participant-page"),
    path("studies/<slug:slug>/dashboard/", views.dashboard, name="study-dashboard"),
    path("studies/<slug:slug>/results/", views.results, name="study-results"),
    path("bias/", views.bias, name="bias-explorer"),
]

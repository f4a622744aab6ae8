from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("hello/<str:name>/", views.hello, name="hello"),
    path("form/", views.form, name="form"),
    path("async/<int:n>/", views.async_view, name="async_view"),
]

"""Web pages of imports (/imports/…) and exports (/export/<target>/)."""

from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("imports/", views.ImportListView.as_view(), name="import_list"),
    path("imports/new/", views.ImportCreateView.as_view(), name="import_create"),
    path("imports/<uuid:pk>/", views.ImportDetailView.as_view(), name="import_detail"),
    path("imports/<uuid:pk>/mapping/", views.ImportMappingView.as_view(), name="import_mapping"),
    path("imports/<uuid:pk>/options/", views.ImportOptionsView.as_view(), name="import_options"),
    path("imports/<uuid:pk>/preview/", views.ImportPreviewView.as_view(), name="import_preview"),
    path("imports/<uuid:pk>/errors.csv", views.ImportErrorsView.as_view(), name="import_errors"),
    path("imports/<uuid:pk>/undo/", views.ImportUndoView.as_view(), name="import_undo"),
    path("imports/<uuid:pk>/discard/", views.ImportDiscardView.as_view(), name="import_discard"),
    path("export/<str:target>/", views.ExportView.as_view(), name="export"),
]

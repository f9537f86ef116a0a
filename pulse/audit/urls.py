from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("trash/", views.TrashView.as_view(), name="trash"),
    path(
        "trash/<str:record_type>/<uuid:pk>/restore/",
        views.TrashRestoreView.as_view(),
        name="trash_restore",
    ),
    path(
        "trash/<str:record_type>/<uuid:pk>/purge/",
        views.TrashPurgeView.as_view(),
        name="trash_purge",
    ),
    path("audit-log/", views.AuditLogView.as_view(), name="log"),
    path(
        "history/<int:content_type_id>/<uuid:object_id>/",
        views.HistoryView.as_view(),
        name="history",
    ),
]

from django.urls import path

from . import views

app_name = "extras"

urlpatterns = [
    path("tags/", views.TagListView.as_view(), name="tag_list"),
    path("tags/new/", views.TagCreateView.as_view(), name="tag_create"),
    path("tags/<uuid:pk>/edit/", views.TagUpdateView.as_view(), name="tag_edit"),
    path("tags/<uuid:pk>/delete/", views.TagDeleteView.as_view(), name="tag_delete"),
    path("settings/custom-fields/", views.CustomFieldListView.as_view(), name="customfield_list"),
    path(
        "settings/custom-fields/new/",
        views.CustomFieldCreateView.as_view(),
        name="customfield_create",
    ),
    path(
        "settings/custom-fields/<uuid:pk>/edit/",
        views.CustomFieldUpdateView.as_view(),
        name="customfield_edit",
    ),
    path(
        "settings/custom-fields/<uuid:pk>/delete/",
        views.CustomFieldDeleteView.as_view(),
        name="customfield_delete",
    ),
    path("saved-views/new/", views.SavedViewCreateView.as_view(), name="savedview_create"),
    path(
        "saved-views/<uuid:pk>/delete/",
        views.SavedViewDeleteView.as_view(),
        name="savedview_delete",
    ),
    path("notifications/", views.NotificationListView.as_view(), name="notification_list"),
    path(
        "notifications/read-all/",
        views.NotificationReadAllView.as_view(),
        name="notification_read_all",
    ),
    path(
        "notifications/<uuid:pk>/read/",
        views.NotificationReadView.as_view(),
        name="notification_read",
    ),
    path("jobs/<uuid:pk>/", views.BulkJobProgressView.as_view(), name="bulkjob_progress"),
]

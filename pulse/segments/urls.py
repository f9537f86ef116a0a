"""Web pages of segments: /segments/…."""

from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("segments/", views.SegmentListView.as_view(), name="segment_list"),
    path("segments/new/", views.SegmentFormView.as_view(), name="segment_create"),
    path("segments/contact-options/", views.ContactOptionsView.as_view(), name="contact_options"),
    path(
        "segments/for-contact/<uuid:pk>/",
        views.ContactListsView.as_view(),
        name="contact_lists",
    ),
    path("segments/<uuid:pk>/", views.SegmentDetailView.as_view(), name="segment_detail"),
    path("segments/<uuid:pk>/count/", views.SegmentCountView.as_view(), name="segment_count"),
    path("segments/<uuid:pk>/edit/", views.SegmentFormView.as_view(), name="segment_edit"),
    path("segments/<uuid:pk>/delete/", views.SegmentDeleteView.as_view(), name="segment_delete"),
    path(
        "segments/<uuid:pk>/members/add/",
        views.SegmentMembersView.as_view(operation="add"),
        name="segment_members_add",
    ),
    path(
        "segments/<uuid:pk>/members/remove/",
        views.SegmentMembersView.as_view(operation="remove"),
        name="segment_members_remove",
    ),
]

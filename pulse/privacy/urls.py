"""Web pages of privacy: /privacy/…."""

from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("privacy/consents/", views.ConsentRecordListView.as_view(), name="consentrecord_list"),
    path(
        "privacy/consents/new/",
        views.ConsentRecordFormView.as_view(),
        name="consentrecord_create",
    ),
    path(
        "privacy/consents/<uuid:pk>/edit/",
        views.ConsentRecordFormView.as_view(),
        name="consentrecord_edit",
    ),
    path(
        "privacy/consents/<uuid:pk>/delete/",
        views.ConsentRecordDeleteView.as_view(),
        name="consentrecord_delete",
    ),
    path(
        "privacy/consents/<uuid:pk>/withdraw/",
        views.ConsentWithdrawView.as_view(),
        name="consentrecord_withdraw",
    ),
    path(
        "privacy/contact/<uuid:pk>/",
        views.ContactPrivacyView.as_view(),
        name="contact_privacy",
    ),
    path(
        "privacy/contact/<uuid:pk>/export/",
        views.ContactExportView.as_view(),
        name="contact_export",
    ),
    path(
        "privacy/contact/<uuid:pk>/erase/",
        views.ContactEraseView.as_view(),
        name="contact_erase",
    ),
    path("privacy/requests/", views.PrivacyRequestListView.as_view(), name="privacyrequest_list"),
    path(
        "privacy/requests/<uuid:pk>/",
        views.PrivacyRequestDetailView.as_view(),
        name="privacyrequest_detail",
    ),
    path(
        "privacy/requests/<uuid:pk>/download/",
        views.PrivacyRequestDownloadView.as_view(),
        name="privacyrequest_download",
    ),
]

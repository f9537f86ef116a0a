"""Web pages of contacts and companies: /contacts/… and /companies/…."""

from django.urls import path

from . import views

app_name = "contacts"

urlpatterns = [
    path("contacts/", views.ContactListView.as_view(), name="contact_list"),
    path("contacts/new/", views.ContactFormView.as_view(), name="contact_create"),
    path("contacts/bulk/", views.ContactBulkView.as_view(), name="contact_bulk"),
    path("contacts/<uuid:pk>/", views.ContactDetailView.as_view(), name="contact_detail"),
    path("contacts/<uuid:pk>/edit/", views.ContactFormView.as_view(), name="contact_edit"),
    path("contacts/<uuid:pk>/delete/", views.ContactDeleteView.as_view(), name="contact_delete"),
    path("companies/", views.CompanyListView.as_view(), name="company_list"),
    path("companies/new/", views.CompanyFormView.as_view(), name="company_create"),
    path("companies/bulk/", views.CompanyBulkView.as_view(), name="company_bulk"),
    path("companies/options/", views.CompanyOptionsView.as_view(), name="company_options"),
    path("companies/<uuid:pk>/", views.CompanyDetailView.as_view(), name="company_detail"),
    path("companies/<uuid:pk>/edit/", views.CompanyFormView.as_view(), name="company_edit"),
    path("companies/<uuid:pk>/delete/", views.CompanyDeleteView.as_view(), name="company_delete"),
    # --- list features (H3): inline edit, quick create ---
    path(
        "contacts/<uuid:pk>/inline-edit/",
        views.ContactInlineEditView.as_view(),
        name="contact_inline_edit",
    ),
    path(
        "companies/<uuid:pk>/inline-edit/",
        views.CompanyInlineEditView.as_view(),
        name="company_inline_edit",
    ),
    path(
        "contacts/quick-new/", views.ContactQuickCreateView.as_view(), name="contact_quick_create"
    ),
    path(
        "companies/quick-new/", views.CompanyQuickCreateView.as_view(), name="company_quick_create"
    ),
    # --- dedupe and merge (H2) ---
    path("contacts/duplicates/", views.DuplicateListView.as_view(), name="duplicate_list"),
    path("contacts/duplicates/scan/", views.DuplicateScanView.as_view(), name="duplicate_scan"),
    path(
        "contacts/duplicates/dismiss/",
        views.DuplicateDismissView.as_view(),
        name="duplicate_dismiss",
    ),
    path("contacts/<uuid:pk>/merge/", views.ContactMergeView.as_view(), name="contact_merge"),
    path("companies/<uuid:pk>/merge/", views.CompanyMergeView.as_view(), name="company_merge"),
    path(
        "contacts/<uuid:pk>/merge/actions/",
        views.ContactMergeActionsView.as_view(),
        name="contact_merge_actions",
    ),
    path(
        "companies/<uuid:pk>/merge/actions/",
        views.CompanyMergeActionsView.as_view(),
        name="company_merge_actions",
    ),
    path("contacts/merge/<uuid:entry>/undo/", views.MergeUndoView.as_view(), name="merge_undo"),
    # --- records (H1): contact picker, relationships ---
    path("contacts/options/", views.ContactOptionsView.as_view(), name="contact_options"),
    path(
        "contacts/<uuid:pk>/relationships/new/",
        views.ContactRelationshipCreateView.as_view(),
        name="contact_relationship_create",
    ),
    path(
        "contacts/relationships/<uuid:pk>/delete/",
        views.ContactRelationshipDeleteView.as_view(),
        name="contact_relationship_delete",
    ),
]

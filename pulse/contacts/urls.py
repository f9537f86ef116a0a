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
]

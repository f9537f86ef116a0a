from django.urls import path

from pulse.core.views import PlaceholderView

app_name = "contacts"

urlpatterns = [
    path("contacts/contact_list/", PlaceholderView.as_view(), name="contact_list"),
    path("contacts/company_list/", PlaceholderView.as_view(), name="company_list"),
]

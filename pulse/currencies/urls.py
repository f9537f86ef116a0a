"""Web pages of exchange rates: /settings/exchange-rates/…"""

from django.urls import path

from . import views

app_name = "currencies"

urlpatterns = [
    path(
        "settings/exchange-rates/",
        views.ExchangeRateListView.as_view(),
        name="exchangerate_list",
    ),
    path(
        "settings/exchange-rates/new/",
        views.ExchangeRateFormView.as_view(),
        name="exchangerate_create",
    ),
    path(
        "settings/exchange-rates/import/",
        views.ExchangeRateImportView.as_view(),
        name="exchangerate_import",
    ),
    path(
        "settings/exchange-rates/convert/",
        views.ExchangeRateConvertView.as_view(),
        name="exchangerate_convert",
    ),
    path(
        "settings/exchange-rates/<uuid:pk>/edit/",
        views.ExchangeRateFormView.as_view(),
        name="exchangerate_edit",
    ),
    path(
        "settings/exchange-rates/<uuid:pk>/delete/",
        views.ExchangeRateDeleteView.as_view(),
        name="exchangerate_delete",
    ),
]

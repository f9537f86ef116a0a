from django.apps import AppConfig


class CurrenciesConfig(AppConfig):
    name = "pulse.currencies"
    label = "currencies"
    verbose_name = "Currencies"

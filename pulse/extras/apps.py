from django.apps import AppConfig


class ExtrasConfig(AppConfig):
    name = "pulse.extras"
    label = "extras"
    verbose_name = "Extras"

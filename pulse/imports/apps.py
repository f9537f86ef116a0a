from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "pulse.imports"
    label = "imports"
    verbose_name = "Imports"

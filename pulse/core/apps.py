from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "pulse.core"
    label = "core"

    def ready(self):
        from . import schema  # noqa: F401  (registers OpenAPI auth extensions)

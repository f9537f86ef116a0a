from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "pulse.audit"
    label = "audit"
    verbose_name = "Audit"

    def ready(self):
        from . import receivers  # noqa: F401  (the only signal receivers, rule 5)

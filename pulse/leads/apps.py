from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "pulse.leads"
    label = "leads"
    verbose_name = "Leads"

    def ready(self):
        # The "leads" import target (pulse.imports' registry), after contacts and companies.
        from . import imports  # noqa: F401

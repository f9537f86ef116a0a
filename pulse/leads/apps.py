from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "pulse.leads"
    label = "leads"
    verbose_name = "Leads"

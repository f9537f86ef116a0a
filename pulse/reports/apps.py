from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "pulse.reports"
    label = "reports"
    verbose_name = "Reports and dashboards"

from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "pulse.opportunities"
    label = "opportunities"
    verbose_name = "Opportunities"

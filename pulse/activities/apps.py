from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "pulse.activities"
    label = "activities"
    verbose_name = "Activities"

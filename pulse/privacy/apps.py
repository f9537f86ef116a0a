from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "pulse.privacy"
    label = "privacy"
    verbose_name = "Privacy"

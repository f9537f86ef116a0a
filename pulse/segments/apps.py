from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "pulse.segments"
    label = "segments"
    verbose_name = "Segments"

"""Reusable django-filter filters for records that use the extras mechanisms."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from .models import Tag


def _tags_for(request):
    """The tags offered (and accepted) by the filter: those the user may see."""
    if request is None or not getattr(request, "user", None):
        return Tag.objects.all()
    return Tag.objects.restrict(request.user, "view")


class TagFilter(django_filters.ModelMultipleChoiceFilter):
    """``?tags=<id>&tags=<id>``: records having ANY of the tags.

    Filters with ``pk IN (SELECT <record> FROM <through table> WHERE tag IN (...))``:
    never a join plus DISTINCT, which defeats the list's ordering index (DESIGN).
    Works for any model whose ``field_name`` (default ``tags``) is a many-to-many
    to ``extras.Tag``. Unknown or other organizations' tag ids are a filter error.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("field_name", "tags")
        kwargs.setdefault("label", _("Tags"))
        kwargs.setdefault("queryset", _tags_for)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        field = qs.model._meta.get_field(self.field_name)
        through = field.remote_field.through
        record_ids = through._base_manager.filter(
            **{f"{field.m2m_reverse_field_name()}__in": [tag.pk for tag in value]}
        ).values(field.m2m_field_name())
        return qs.filter(pk__in=record_ids)


def model_for_record_type(label: str):
    """``"contacts.contact"`` → the model, or ``None`` for an unknown label."""
    from django.apps import apps

    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


class RecordTypeFilter(django_filters.CharFilter):
    """``?record_type=contacts.contact``: rows whose ``content_type`` is that model.

    The label (``app_label.model``) is stable across databases, unlike content type ids.
    An unknown label matches nothing.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("field_name", "content_type")
        kwargs.setdefault("label", _("Record type"))
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        model = model_for_record_type(value.strip().lower())
        if model is None:
            return qs.none()
        from django.contrib.contenttypes.models import ContentType

        content_type = ContentType.objects.get_for_model(model)
        return qs.filter(**{self.field_name: content_type})

"""Template helpers shared by every app's templates."""

from django import template
from django.http import QueryDict

register = template.Library()


@register.simple_tag
def query_replace(querystring: str, **changes) -> str:
    """The current query string with some parameters replaced (pagination, ordering)."""
    query = QueryDict(querystring or "", mutable=True)
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


@register.filter
def toggle_ordering(name: str, current: str) -> str:
    """Clicking a sorted column's header reverses it."""
    return f"-{name}" if current == name else name


@register.filter
def attr(obj, name: str):
    """obj.<name>, following dots; calls get_<name>_display for choice fields."""
    value = obj
    for part in name.split("__"):
        display = getattr(value, f"get_{part}_display", None)
        value = display() if callable(display) else getattr(value, part, None)
        if value is None:
            return None
    return value() if callable(value) else value


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def changed_fields(entry) -> str:
    """An audit entry's changed fields by their labels ("stage, owner"), for timelines.

    Keys starting with "_" are bookkeeping (merge details) and are left out; a field the
    model no longer has keeps its stored name.
    """
    from django.contrib.contenttypes.models import ContentType
    from django.core.exceptions import FieldDoesNotExist

    model = ContentType.objects.get_for_id(entry.content_type_id).model_class()
    labels = []
    for name in entry.changes or {}:
        if name.startswith("_"):
            continue
        try:
            label = str(model._meta.get_field(name).verbose_name) if model else name
        except FieldDoesNotExist:
            label = name.removesuffix("_id").replace("_", " ")
        labels.append(label)
    return ", ".join(labels)

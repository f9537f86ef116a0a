"""Reads of custom field definitions, saved views and notifications."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When

from .customfields import custom_field_models
from .models import CustomField, Notification, SavedView

# --- tags of list rows ----------------------------------------------------------------

# List rows carry their tags in a plain list (``Prefetch(to_attr=…)``): the default
# prefetch builds a tenant-scoped queryset per row only to hold the cached tags (~1 ms a
# row on a small machine). The list is not refreshed by a write: for reads (lists,
# exports), not for a record the request then changes.
PREFETCHED_TAGS = "prefetched_tags"


def tags_prefetch() -> Prefetch:
    """``prefetch_related`` argument: a record's tags into ``record.prefetched_tags``."""
    return Prefetch("tags", to_attr=PREFETCHED_TAGS)


def tags_of(record) -> list:
    """A record's tags: the prefetched list when there is one, else a query."""
    tags = getattr(record, PREFETCHED_TAGS, None)
    return tags if tags is not None else list(record.tags.all())


def _first_when(**condition) -> Case:
    """An ordering key putting rows matching ``condition`` first."""
    return Case(When(then=Value(0), **condition), default=Value(1), output_field=IntegerField())


@dataclass
class CustomFieldGroup:
    """One record type's definitions on the custom fields settings page."""

    content_type: ContentType
    model: type
    definitions: list[CustomField] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name_plural).capitalize()


def customfield_groups(*, user) -> list[CustomFieldGroup]:
    """Every record type that carries custom fields, with its definitions (one query)."""
    groups = {}
    for model in custom_field_models():
        content_type = ContentType.objects.get_for_model(model)
        groups[content_type.pk] = CustomFieldGroup(content_type=content_type, model=model)
    definitions = CustomField.objects.restrict(user, "view").filter(
        content_type_id__in=list(groups)
    )
    for definition in definitions.order_by("position", "label", "pk"):
        groups[definition.content_type_id].definitions.append(definition)
    return list(groups.values())


class SavedViews(list):
    """The saved views offered on one list page; knows the page's record type."""

    def __init__(self, views, *, content_type: ContentType, user):
        super().__init__(views)
        self.content_type = content_type
        self.content_type_id = content_type.pk
        self.user = user

    @property
    def mine(self) -> list[SavedView]:
        return [v for v in self if v.owner_id == self.user.pk]

    @property
    def shared_by_others(self) -> list[SavedView]:
        return [v for v in self if v.owner_id != self.user.pk]


def saved_views_for(user, model) -> SavedViews:
    """The user's own and the organization's shared saved views of ``model``'s list.

    The result is a list (the user's first, then by name) that also carries
    ``content_type_id`` for the "Save current view" form of
    ``extras/partials/saved_views.html``.
    """
    content_type = ContentType.objects.get_for_model(model)
    views = (
        SavedView.objects.restrict(user, "view")
        .filter(content_type=content_type)
        .select_related("owner")
        .order_by(_first_when(owner_id=user.pk), "name", "pk")
    )
    return SavedViews(list(views), content_type=content_type, user=user)


def notifications_for(*, user) -> QuerySet[Notification]:
    """The user's notifications in the organization: unread first, then newest."""
    return Notification.objects.restrict(user, "view").order_by(
        _first_when(read_at__isnull=True), "-created_at", "-pk"
    )

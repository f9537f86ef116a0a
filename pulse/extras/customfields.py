"""Organization-defined custom fields: definitions, validation, forms, API, filters, ordering.

Values live in a record's ``custom_fields`` JSON column (``CustomFieldsModel``), keyed by
the definition's ``key``, stored JSON-safe so the same lookups work on SQLite and
PostgreSQL:

==============  ==========================  ===========================================
type            stored as                   filters (``cf_<key>``)
==============  ==========================  ===========================================
text, long_text string                      icontains
url, email      string                      icontains
number          integer                     ``cf_<key>_min`` / ``cf_<key>_max``
decimal         string, e.g. "12.50"        ``cf_<key>_min`` / ``cf_<key>_max``
date            string "YYYY-MM-DD"         ``cf_<key>_min`` / ``cf_<key>_max``
boolean         true / false                exact
choice          string (one of choices)     exact
multi_choice    list of strings             the list contains the value
user            user id (a member)          exact
==============  ==========================  ===========================================

Empty values are not stored. Domain services call ``validate_custom_fields`` before
saving; forms use ``add_custom_form_fields`` / ``collect_custom_form_values``; the API
uses ``CustomFieldsSerializerField``; FilterSets mix in ``CustomFieldFilterSetMixin``.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
from typing import Any

import django_filters
from django import forms
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import NotSupportedError
from django.db.models import BooleanField, DecimalField, Expression, F, JSONField, Value
from django.db.models.fields.json import (
    KeyTextTransform,
    KeyTransform,
    KeyTransformExact,
    KeyTransformIContains,
    compile_json_path,
)
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pulse.core.errors import ApplicationError
from pulse.core.models import TenantModel
from pulse.core.tenancy import get_current_org

from .models import CustomField, CustomFieldsModel, FieldType

FIELD_PREFIX = "cf_"
TEXT_MAX_LENGTH = 255
LONG_TEXT_MAX_LENGTH = 10_000
URL_MAX_LENGTH = 500
EMAIL_MAX_LENGTH = 254
# Whole numbers and decimals stay well inside what a JSON number / IEEE double and a
# NUMERIC cast represent exactly.
NUMBER_LIMIT = 10**15
DECIMAL_PLACES = 6
MAX_USER_ID = 2**63 - 1

TEXT_TYPES = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.URL, FieldType.EMAIL})
RANGE_TYPES = frozenset({FieldType.NUMBER, FieldType.DECIMAL, FieldType.DATE})
CHOICE_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTI_CHOICE})

_INTEGER = re.compile(r"^[+-]?\d{1,20}$")
_DECIMAL = re.compile(r"^[+-]?\d{1,20}(\.\d{1,20})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_url_validator = URLValidator(schemes=["http", "https"])
_email_validator = EmailValidator()


# --- definitions ----------------------------------------------------------------------


def custom_field_models() -> list[type[TenantModel]]:
    """Record types that carry custom fields: concrete TenantModels with the mixin."""
    found = [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel)
        and issubclass(model, CustomFieldsModel)
        and not model._meta.proxy
    ]
    return sorted(found, key=lambda m: str(m._meta.verbose_name))


def definitions_for(model) -> list[CustomField]:
    """The current organization's custom field definitions for ``model``, in form order."""
    from pulse.core.tenancy import get_current_org, memoized

    content_type = ContentType.objects.get_for_model(model)

    def read() -> list[CustomField]:
        return list(
            CustomField.objects.filter(content_type=content_type).order_by(
                "position", "label", "pk"
            )
        )

    org = get_current_org()
    if org is None:
        return read()  # fails closed, as before
    # Once per request: a list page's filters and its column chooser both need them.
    return list(memoized((CustomField._meta.label_lower, org.pk, content_type.pk), read))


# --- validation -----------------------------------------------------------------------


class _Invalid(Exception):
    """One value's error message (internal to validation)."""


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _clean_string(value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        raise _Invalid(_("Enter text."))
    value = value.strip()
    if "\x00" in value:
        # PostgreSQL's jsonb cannot store NUL characters.
        raise _Invalid(_("Remove the invalid (NUL) characters."))
    if len(value) > max_length:
        raise _Invalid(
            _("Use at most %(max)d characters (it has %(length)d).")
            % {"max": max_length, "length": len(value)}
        )
    return value


def _clean_number(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid(_("Enter a whole number."))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and _INTEGER.match(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise _Invalid(_("Enter a whole number."))
    if abs(value) >= NUMBER_LIMIT:
        raise _Invalid(_("Enter a number smaller than %(limit)s.") % {"limit": f"{NUMBER_LIMIT:,}"})
    return value


def _clean_decimal(value: Any) -> str:
    if isinstance(value, bool):
        raise _Invalid(_("Enter a number."))
    if isinstance(value, int | decimal.Decimal):
        number = decimal.Decimal(value)
    elif isinstance(value, float):
        number = decimal.Decimal(repr(value)) if value == value else decimal.Decimal("NaN")
    elif isinstance(value, str) and _DECIMAL.match(value.strip()):
        number = decimal.Decimal(value.strip())
    else:
        raise _Invalid(_("Enter a number."))
    if not number.is_finite():
        raise _Invalid(_("Enter a number."))
    if abs(number) >= NUMBER_LIMIT:
        raise _Invalid(_("Enter a number smaller than %(limit)s.") % {"limit": f"{NUMBER_LIMIT:,}"})
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -DECIMAL_PLACES:
        raise _Invalid(_("Use at most %(places)d decimal places.") % {"places": DECIMAL_PLACES})
    return format(number, "f")


def _clean_date(value: Any) -> str:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _Invalid(_("Enter a date as YYYY-MM-DD."))


def _clean_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(_("Enter true or false."))
    return value


def _clean_choice(value: Any, choices: list[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _Invalid(_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)})
    return value


def _clean_multi_choice(value: Any, choices: list[str]) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _Invalid(_("Send a list of choices."))
    cleaned: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in choices:
            raise _Invalid(_("Choose only from: %(choices)s.") % {"choices": ", ".join(choices)})
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


def _clean_url(value: Any) -> str:
    value = _clean_string(value, URL_MAX_LENGTH)
    try:
        _url_validator(value)
    except ValidationError:
        raise _Invalid(_("Enter a valid web address starting with http:// or https://."))
    return value


def _clean_email(value: Any) -> str:
    value = _clean_string(value, EMAIL_MAX_LENGTH)
    try:
        _email_validator(value)
    except ValidationError:
        raise _Invalid(_("Enter a valid email address."))
    return value


def _clean_user(value: Any) -> int:
    if hasattr(value, "_meta") and hasattr(value, "pk"):  # a User from a form
        value = value.pk
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_USER_ID:
        raise _Invalid(_("Choose a member of this organization."))
    from pulse.accounts.models import Membership

    if not Membership.objects.filter(user_id=value, user__is_active=True).exists():
        raise _Invalid(_("Choose a member of this organization."))
    return value


def clean_custom_value(definition: CustomField, value: Any) -> Any:
    """One non-empty value, cleaned to its stored JSON form; raises ``_Invalid``."""
    kind = definition.field_type
    if kind == FieldType.TEXT:
        return _clean_string(value, TEXT_MAX_LENGTH)
    if kind == FieldType.LONG_TEXT:
        return _clean_string(value, LONG_TEXT_MAX_LENGTH)
    if kind == FieldType.NUMBER:
        return _clean_number(value)
    if kind == FieldType.DECIMAL:
        return _clean_decimal(value)
    if kind == FieldType.DATE:
        return _clean_date(value)
    if kind == FieldType.BOOLEAN:
        return _clean_boolean(value)
    if kind == FieldType.CHOICE:
        return _clean_choice(value, list(definition.choices or []))
    if kind == FieldType.MULTI_CHOICE:
        return _clean_multi_choice(value, list(definition.choices or []))
    if kind == FieldType.URL:
        return _clean_url(value)
    if kind == FieldType.EMAIL:
        return _clean_email(value)
    if kind == FieldType.USER:
        return _clean_user(value)
    raise _Invalid(_("This field has an unknown type."))


def error_key(key: Any) -> str:
    """The error key of one custom field: ``custom_fields.<key>``."""
    return f"custom_fields.{str(key)[:60]}"


def validate_custom_fields(model, values: Any, *, definitions=None) -> dict:
    """Clean ``values`` against the current organization's definitions for ``model``.

    Returns the dict to store (definitions' order, empty values left out). Refuses a
    value of the wrong type, a choice not offered, a missing required field and any
    key that is not defined, with one ``ApplicationError`` whose errors are keyed
    ``custom_fields.<key>`` (``custom_fields`` when ``values`` is not an object).
    Never raises anything else, whatever JSON it is given.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ApplicationError(
            errors={"custom_fields": [_("Send an object of field keys and values.")]}
        )
    if definitions is None:
        definitions = definitions_for(model)
    by_key = {d.key: d for d in definitions}
    errors: dict[str, list[str]] = {}
    for key in values:
        if key not in by_key:
            errors[error_key(key)] = [_("There is no custom field with this key.")]
    cleaned: dict[str, Any] = {}
    for definition in definitions:
        value = values.get(definition.key)
        if _is_empty(value):
            if definition.required:
                errors[error_key(definition.key)] = [_("This field is required.")]
            continue
        try:
            cleaned[definition.key] = clean_custom_value(definition, value)
        except _Invalid as exc:
            errors[error_key(definition.key)] = [str(exc)]
    if errors:
        raise ApplicationError(errors=errors)
    return cleaned


# --- forms ----------------------------------------------------------------------------


def _member_queryset():
    from pulse.accounts.selectors import organization_members

    return organization_members(get_current_org())


def form_field_for(definition: CustomField) -> forms.Field:
    """A Django form field (Bootstrap-styled widget) for one definition."""
    common = {
        "label": definition.label,
        "help_text": definition.help_text,
        "required": definition.required,
    }
    text_input = {"class": "form-control"}
    kind = definition.field_type
    choices = [(c, c) for c in definition.choices or []]
    if kind == FieldType.TEXT:
        return forms.CharField(
            max_length=TEXT_MAX_LENGTH, widget=forms.TextInput(attrs=text_input), **common
        )
    if kind == FieldType.LONG_TEXT:
        return forms.CharField(
            max_length=LONG_TEXT_MAX_LENGTH,
            widget=forms.Textarea(attrs={**text_input, "rows": 3}),
            **common,
        )
    if kind == FieldType.NUMBER:
        return forms.IntegerField(
            min_value=-NUMBER_LIMIT + 1,
            max_value=NUMBER_LIMIT - 1,
            widget=forms.NumberInput(attrs=text_input),
            **common,
        )
    if kind == FieldType.DECIMAL:
        return forms.DecimalField(
            max_digits=15 + DECIMAL_PLACES,
            decimal_places=DECIMAL_PLACES,
            widget=forms.NumberInput(attrs={**text_input, "step": "any"}),
            **common,
        )
    if kind == FieldType.DATE:
        return forms.DateField(
            widget=forms.DateInput(attrs={**text_input, "type": "date"}, format="%Y-%m-%d"),
            **common,
        )
    if kind == FieldType.BOOLEAN:
        # A required checkbox would force "yes"; an unticked box means "no".
        common["required"] = False
        return forms.BooleanField(
            widget=forms.CheckboxInput(attrs={"class": "form-check-input"}), **common
        )
    if kind == FieldType.CHOICE:
        return forms.ChoiceField(
            choices=[("", "---------"), *choices],
            widget=forms.Select(attrs={"class": "form-select"}),
            **common,
        )
    if kind == FieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.SelectMultiple(attrs={"class": "form-select"}), **common
        )
    if kind == FieldType.URL:
        return forms.URLField(
            max_length=URL_MAX_LENGTH,
            assume_scheme="https",
            widget=forms.URLInput(attrs=text_input),
            **common,
        )
    if kind == FieldType.EMAIL:
        return forms.EmailField(
            max_length=EMAIL_MAX_LENGTH, widget=forms.EmailInput(attrs=text_input), **common
        )
    if kind == FieldType.USER:
        return forms.ModelChoiceField(
            queryset=_member_queryset(),
            widget=forms.Select(attrs={"class": "form-select"}),
            **common,
        )
    raise ValueError(f"unknown custom field type {kind!r}")


def _initial(definition: CustomField, value: Any) -> Any:
    """A stored value as the form field expects it (dates and decimals are strings)."""
    try:
        if definition.field_type == FieldType.DATE and isinstance(value, str):
            return datetime.date.fromisoformat(value)
        if definition.field_type == FieldType.DECIMAL and isinstance(value, str | int):
            return decimal.Decimal(value)
    except (ValueError, decimal.InvalidOperation):
        return None
    return value


def add_custom_form_fields(form) -> None:
    """Add one ``cf_<key>`` field per definition of the form's model to ``form``.

    Initial values come from ``form.instance.custom_fields``. The definitions are kept
    on ``form.custom_field_definitions`` and the field names on ``form.custom_field_names``
    (templates may group them under a "Custom fields" heading).
    """
    meta = getattr(form, "_meta", None)
    instance = getattr(form, "instance", None)
    model = getattr(meta, "model", None) or type(instance)
    current = getattr(instance, "custom_fields", None) or {}
    form.custom_field_definitions = definitions_for(model)
    form.custom_field_names = []
    for definition in form.custom_field_definitions:
        name = FIELD_PREFIX + definition.key
        field = form_field_for(definition)
        field.initial = _initial(definition, current.get(definition.key))
        form.fields[name] = field
        form.custom_field_names.append(name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return value.pk
    if isinstance(value, tuple):
        return list(value)
    return value


def collect_custom_form_values(form) -> dict:
    """The valid form's ``cf_<key>`` values as a JSON-safe dict keyed by field key.

    Empty values are left out (a boolean's ``False`` is a value). Pass the result to
    the domain service, which validates it with ``validate_custom_fields``.
    """
    definitions = getattr(form, "custom_field_definitions", None)
    if definitions is None:
        definitions = definitions_for(form._meta.model)
    values = {}
    for definition in definitions:
        value = form.cleaned_data.get(FIELD_PREFIX + definition.key)
        if definition.field_type == FieldType.BOOLEAN:
            values[definition.key] = bool(value)
        elif not _is_empty(value):
            values[definition.key] = _jsonable(value)
    return values


# --- API ------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "Custom field values keyed by the field's key.",
    }
)
class CustomFieldsSerializerField(serializers.Field):
    """A record's custom fields as one JSON object, validated with ``validate_custom_fields``.

    Writes replace the whole object. Invalid values raise ``ApplicationError`` so the
    API answers ``400 {"errors": {"custom_fields.<key>": [...]}}`` -- the same keys the
    services use. Reads show only keys that are still defined (a deleted definition's
    values stay stored, so restoring it brings them back). The definitions are read
    once per serializer, not once per row.
    """

    default_error_messages = {"invalid": gettext_lazy("Send an object of field keys and values.")}

    def __init__(self, *, model=None, **kwargs):
        kwargs.setdefault("required", False)
        self.model = model
        self._definitions = None
        super().__init__(**kwargs)

    def _model(self):
        if self.model is not None:
            return self.model
        return self.parent.Meta.model

    def definitions(self) -> list[CustomField]:
        if self._definitions is None:
            self._definitions = definitions_for(self._model())
        return self._definitions

    def to_representation(self, value):
        keys = {d.key for d in self.definitions()}
        return {k: v for k, v in (value or {}).items() if k in keys}

    def to_internal_value(self, data):
        return validate_custom_fields(self._model(), data, definitions=self.definitions())


# --- filters and ordering -------------------------------------------------------------


class JSONArrayContains(Expression):
    """``custom_fields -> key`` is a JSON array holding ``value`` (a condition).

    Django's JSON ``contains`` lookup is not available on SQLite, so each database
    gets its own SQL: ``@>`` on PostgreSQL, ``json_each`` on SQLite.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, field_name: str, key: str, value: str):
        super().__init__()
        self.column = F(field_name)
        self.key = key
        self.value = value

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        field_sql, field_params = compiler.compile(self.column)
        if connection.vendor == "postgresql":
            sql = f"COALESCE(({field_sql} -> %s) @> %s::jsonb, false)"
            return sql, (*field_params, self.key, json.dumps([self.value]))
        if connection.vendor == "sqlite":
            # field_sql is Django's compiled column; key and value are parameters.
            sql = (
                f"EXISTS (SELECT 1 FROM json_each({field_sql}, %s) AS cf_item "  # noqa: S608
                "WHERE cf_item.value = %s)"
            )
            return sql, (*field_params, compile_json_path([self.key]), self.value)
        raise NotSupportedError("multi-choice custom field filters need SQLite or PostgreSQL")


def _range_expression(definition: CustomField, attr: str):
    text = KeyTextTransform(definition.key, attr)
    if definition.field_type == FieldType.DATE:
        return text  # ISO dates sort and compare as text
    return Cast(text, DecimalField(max_digits=30, decimal_places=DECIMAL_PLACES))


def custom_field_filters(definition: CustomField, attr: str = "custom_fields") -> dict:
    """The django-filter filters for one definition, by name (see the module table)."""
    key, label, kind = definition.key, definition.label, definition.field_type
    name = FIELD_PREFIX + key

    if kind in TEXT_TYPES:

        def text_filter(qs, _name, value):
            return qs.filter(KeyTransformIContains(KeyTransform(key, attr), value))

        return {name: django_filters.CharFilter(label=label, method=text_filter)}

    if kind in RANGE_TYPES:

        def bound(lookup):
            def range_filter(qs, _name, value):
                if value in (None, ""):
                    return qs
                rhs = value.isoformat() if kind == FieldType.DATE else value
                return qs.filter(lookup(_range_expression(definition, attr), rhs))

            return range_filter

        if kind == FieldType.DATE:
            filter_class = django_filters.DateFilter
            extra = {"widget": forms.DateInput(attrs={"type": "date"})}
        else:
            filter_class, extra = django_filters.NumberFilter, {}
        return {
            f"{name}_min": filter_class(
                label=_("%(label)s from") % {"label": label},
                method=bound(GreaterThanOrEqual),
                **extra,
            ),
            f"{name}_max": filter_class(
                label=_("%(label)s to") % {"label": label},
                method=bound(LessThanOrEqual),
                **extra,
            ),
        }

    def exact_filter(qs, _name, value):
        if value in (None, ""):
            return qs
        if hasattr(value, "pk"):
            value = value.pk
        # The value goes in as JSON (a built lookup does not encode it as filter() would).
        rhs = Value(value, output_field=JSONField())
        return qs.filter(KeyTransformExact(KeyTransform(key, attr), rhs))

    if kind == FieldType.BOOLEAN:
        return {name: django_filters.BooleanFilter(label=label, method=exact_filter)}
    if kind == FieldType.CHOICE:
        choices = [(c, c) for c in definition.choices or []]
        return {
            name: django_filters.ChoiceFilter(label=label, choices=choices, method=exact_filter)
        }
    if kind == FieldType.USER:
        return {
            name: django_filters.ModelChoiceFilter(
                label=label, queryset=_member_queryset(), method=exact_filter
            )
        }
    if kind == FieldType.MULTI_CHOICE:
        choices = [(c, c) for c in definition.choices or []]

        def contains_filter(qs, _name, value):
            if not value:
                return qs
            return qs.filter(JSONArrayContains(attr, key, value))

        return {
            name: django_filters.ChoiceFilter(label=label, choices=choices, method=contains_filter)
        }
    return {}


class CustomFieldFilterSetMixin:
    """Adds ``cf_<key>`` filters for the current organization's definitions of the model.

    Put it before ``FilterSet`` in the bases. The filters are added per instance (the
    definitions belong to the organization in context), so UI and API lists both get
    them. ``custom_fields_attr`` names the JSON column.
    """

    custom_fields_attr = "custom_fields"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if get_current_org() is None:
            return  # e.g. schema generation: nothing to offer, nothing to query
        model = self.queryset.model if self.queryset is not None else self._meta.model
        for definition in definitions_for(model):
            for name, filter_ in custom_field_filters(definition, self.custom_fields_attr).items():
                filter_.model = model
                filter_.parent = self
                self.filters[name] = filter_


def custom_field_ordering(model, key: str, *, attr: str = "custom_fields"):
    """An expression ordering ``model`` rows by custom field ``key``, cast per type.

    Numbers and decimals sort numerically; dates, texts, choices and booleans as text
    (ISO dates sort correctly as text). ``None`` when ``key`` is not defined, so a
    list can ignore an unknown ``?ordering=``. Use with ``.asc(nulls_last=True)``.
    """
    definition = next((d for d in definitions_for(model) if d.key == key), None)
    if definition is None:
        return None
    if definition.field_type in (FieldType.NUMBER, FieldType.DECIMAL):
        return _range_expression(definition, attr)
    if definition.field_type == FieldType.USER:
        return Cast(KeyTextTransform(key, attr), DecimalField(max_digits=20, decimal_places=0))
    return KeyTextTransform(key, attr)


__all__ = [
    "CustomFieldFilterSetMixin",
    "CustomFieldsSerializerField",
    "JSONArrayContains",
    "add_custom_form_fields",
    "collect_custom_form_values",
    "custom_field_filters",
    "custom_field_models",
    "custom_field_ordering",
    "definitions_for",
    "validate_custom_fields",
]

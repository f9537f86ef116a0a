"""Custom fields: validation of every type, form helpers, serializer field, filters, ordering.

Definitions are made on ``contacts.Contact`` (a record type with ``custom_fields``);
contacts are written with the generic ``record_create`` so these tests exercise only
the custom-field mechanism.
"""

from __future__ import annotations

import datetime
import decimal

import django_filters
import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from pulse.accounts.models import Role
from pulse.contacts.models import Contact
from pulse.core.errors import ApplicationError
from pulse.core.forms import TenantModelForm
from pulse.core.services import record_create
from pulse.extras.customfields import (
    CustomFieldFilterSetMixin,
    CustomFieldsSerializerField,
    custom_field_models,
    custom_field_ordering,
    definitions_for,
    validate_custom_fields,
)
from pulse.extras.models import Tag
from pulse.extras.services import customfield_create, customfield_delete
from tests.accounts.factories import make_member

CHOICES = ["Gold", "Silver", "Bronze"]
FIELDS = [
    ("nickname", "text", {}),
    ("bio", "long_text", {}),
    ("seats", "number", {}),
    ("budget", "decimal", {}),
    ("renewal", "date", {}),
    ("vip", "boolean", {}),
    ("tier", "choice", {"choices": CHOICES}),
    ("regions", "multi_choice", {"choices": ["EU", "US", "APAC"]}),
    ("homepage", "url", {}),
    ("billing_email", "email", {}),
    ("account_manager", "user", {}),
]


@pytest.fixture
def definitions(in_org, owner):
    content_type = ContentType.objects.get_for_model(Contact)
    made = []
    for position, (key, field_type, extra) in enumerate(FIELDS, start=1):
        made.append(
            customfield_create(
                org=in_org,
                actor=owner,
                content_type=content_type,
                key=key,
                label=key.replace("_", " ").title(),
                field_type=field_type,
                position=position,
                **extra,
            )
        )
    return made


def _errors(values) -> dict:
    with pytest.raises(ApplicationError) as caught:
        validate_custom_fields(Contact, values)
    return caught.value.errors


# --- definitions ------------------------------------------------------------------------


def test_contact_and_company_carry_custom_fields():
    labels = {model._meta.label for model in custom_field_models()}
    assert {"contacts.Contact", "contacts.Company"} <= labels
    assert "extras.Tag" not in labels


def test_definitions_are_per_organization_and_ordered(definitions, org, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    assert [d.key for d in definitions_for(Contact)] == [key for key, _t, _e in FIELDS]
    with tenant_context(other_org, actor=other_owner):
        assert definitions_for(Contact) == []


# --- validation -----------------------------------------------------------------------------


def test_valid_values_of_every_type_are_cleaned_to_json(definitions, owner):
    cleaned = validate_custom_fields(
        Contact,
        {
            "nickname": "  Ada  ",
            "bio": "Line one\nLine two",
            "seats": "12",
            "budget": 1234.5,
            "renewal": "2027-02-28",
            "vip": False,
            "tier": "Gold",
            "regions": ["US", "EU", "US"],
            "homepage": "https://example.com/x",
            "billing_email": "billing@example.com",
            "account_manager": owner.pk,
        },
    )
    assert cleaned == {
        "nickname": "Ada",
        "bio": "Line one\nLine two",
        "seats": 12,
        "budget": "1234.5",
        "renewal": "2027-02-28",
        "vip": False,
        "tier": "Gold",
        "regions": ["US", "EU"],
        "homepage": "https://example.com/x",
        "billing_email": "billing@example.com",
        "account_manager": owner.pk,
    }


def test_empty_values_are_not_stored(definitions):
    assert validate_custom_fields(Contact, {"nickname": "  ", "regions": [], "seats": None}) == {}
    assert validate_custom_fields(Contact, None) == {}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("nickname", 5, "Enter text."),
        ("nickname", "x" * 256, "Use at most 255 characters (it has 256)."),
        ("nickname", "nul\x00byte", "Remove the invalid (NUL) characters."),
        ("seats", 1.5, "Enter a whole number."),
        ("seats", True, "Enter a whole number."),
        ("seats", "ten", "Enter a whole number."),
        ("seats", 10**15, "Enter a number smaller than 1,000,000,000,000,000."),
        ("budget", "1e5", "Enter a number."),
        ("budget", "NaN", "Enter a number."),
        ("budget", "1.1234567", "Use at most 6 decimal places."),
        ("renewal", "2027-02-30", "Enter a date as YYYY-MM-DD."),
        ("renewal", "28.02.2027", "Enter a date as YYYY-MM-DD."),
        ("vip", "yes", "Enter true or false."),
        ("tier", "Platinum", "Choose one of: Gold, Silver, Bronze."),
        ("tier", ["Gold"], "Choose one of: Gold, Silver, Bronze."),
        ("regions", "EU", "Send a list of choices."),
        ("regions", ["EU", "Mars"], "Choose only from: EU, US, APAC."),
        (
            "homepage",
            "ftp://example.com",
            "Enter a valid web address starting with http:// or https://.",
        ),
        ("billing_email", "not-an-email", "Enter a valid email address."),
        ("account_manager", "someone", "Choose a member of this organization."),
        ("account_manager", 10**30, "Choose a member of this organization."),
    ],
)
def test_invalid_values_are_refused_per_type(definitions, key, value, message):
    assert _errors({key: value}) == {f"custom_fields.{key}": [message]}


def test_user_of_another_organization_is_refused(definitions, other_owner):
    assert _errors({"account_manager": other_owner.pk}) == {
        "custom_fields.account_manager": ["Choose a member of this organization."]
    }


def test_required_field_must_be_given(in_org, owner, definitions):
    customfield_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Contact),
        key="contract_no",
        label="Contract number",
        field_type="text",
        required=True,
    )
    assert _errors({}) == {"custom_fields.contract_no": ["This field is required."]}
    assert _errors({"contract_no": "   "}) == {
        "custom_fields.contract_no": ["This field is required."]
    }
    assert validate_custom_fields(Contact, {"contract_no": "C-1"}) == {"contract_no": "C-1"}


def test_unknown_keys_and_every_bad_value_are_reported_together(definitions):
    assert _errors({"shoe_size": 42, "seats": "many", "tier": "Tin"}) == {
        "custom_fields.shoe_size": ["There is no custom field with this key."],
        "custom_fields.seats": ["Enter a whole number."],
        "custom_fields.tier": ["Choose one of: Gold, Silver, Bronze."],
    }


def test_a_non_object_is_refused(definitions):
    assert _errors(["seats", 1]) == {"custom_fields": ["Send an object of field keys and values."]}


def test_a_deleted_definition_no_longer_accepts_values(in_org, owner, definitions):
    customfield_delete(field=definitions[0], actor=owner)
    assert _errors({"nickname": "Ada"}) == {
        "custom_fields.nickname": ["There is no custom field with this key."]
    }


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from([key for key, _t, _e in FIELDS]) | st.text(max_size=12)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=JSON | st.dictionaries(KEYS, JSON, max_size=6))
def test_any_json_gives_a_clean_dict_or_an_application_error(definitions, values):
    try:
        cleaned = validate_custom_fields(Contact, values)
    except ApplicationError as exc:
        assert exc.errors and all(
            key == "custom_fields" or key.startswith("custom_fields.") for key in exc.errors
        )
        assert all(isinstance(m, str) and m for msgs in exc.errors.values() for m in msgs)
    else:
        assert isinstance(cleaned, dict)
        assert set(cleaned) <= {key for key, _t, _e in FIELDS}
        # What was cleaned validates again to itself (services may validate twice).
        assert validate_custom_fields(Contact, cleaned) == cleaned


# --- forms ---------------------------------------------------------------------------------


class ContactNameForm(TenantModelForm):
    class Meta:
        model = Contact
        fields = ["first_name", "last_name"]


def _request(user, org):
    request = RequestFactory().get("/")
    request.user = user
    request.organization = org
    return request


def test_form_gets_one_field_per_definition_with_widgets_and_initial(
    in_org, owner, admin_user, definitions
):
    contact = record_create(
        Contact,
        org=in_org,
        actor=owner,
        first_name="Ada",
        custom_fields={"seats": 3, "renewal": "2027-01-31", "budget": "9.50", "vip": True},
    )
    form = ContactNameForm(instance=contact, request=_request(owner, in_org))

    assert form.custom_field_names == [f"cf_{key}" for key, _t, _e in FIELDS]
    widgets = {name: type(form.fields[name].widget).__name__ for name in form.custom_field_names}
    assert widgets == {
        "cf_nickname": "TextInput",
        "cf_bio": "Textarea",
        "cf_seats": "NumberInput",
        "cf_budget": "NumberInput",
        "cf_renewal": "DateInput",
        "cf_vip": "CheckboxInput",
        "cf_tier": "Select",
        "cf_regions": "SelectMultiple",
        "cf_homepage": "URLInput",
        "cf_billing_email": "EmailInput",
        "cf_account_manager": "Select",
    }
    assert form.fields["cf_renewal"].widget.input_type == "date"
    assert form["cf_seats"].value() == 3
    assert form["cf_renewal"].value() == datetime.date(2027, 1, 31)
    assert form["cf_budget"].value() == decimal.Decimal("9.50")
    assert form["cf_vip"].value() is True
    assert list(form.fields["cf_tier"].choices) == [("", "---------")] + [(c, c) for c in CHOICES]
    members = set(form.fields["cf_account_manager"].queryset)
    assert members == {owner, admin_user}


def test_form_values_are_collected_json_safe(in_org, owner, definitions):
    data = {
        "first_name": "Ada",
        "cf_nickname": "Countess",
        "cf_seats": "7",
        "cf_budget": "10.25",
        "cf_renewal": "2027-03-01",
        "cf_vip": "on",
        "cf_tier": "Silver",
        "cf_regions": ["EU", "APAC"],
        "cf_homepage": "https://ada.example",
        "cf_billing_email": "ada@example.com",
        "cf_account_manager": str(owner.pk),
    }
    form = ContactNameForm(data=data, request=_request(owner, in_org))
    assert form.is_valid(), form.errors
    values = form.service_fields()["custom_fields"]
    assert values == {
        "nickname": "Countess",
        "seats": 7,
        "budget": "10.25",
        "renewal": "2027-03-01",
        "vip": True,
        "tier": "Silver",
        "regions": ["EU", "APAC"],
        "homepage": "https://ada.example",
        "billing_email": "ada@example.com",
        "account_manager": owner.pk,
    }
    assert validate_custom_fields(Contact, values) == values


def test_form_refuses_a_choice_that_is_not_offered(in_org, owner, definitions):
    form = ContactNameForm(
        data={"first_name": "Ada", "cf_tier": "Platinum"}, request=_request(owner, in_org)
    )
    assert not form.is_valid()
    assert list(form.errors) == ["cf_tier"]


def test_unticked_checkbox_is_false(in_org, owner, definitions):
    form = ContactNameForm(data={"first_name": "Ada"}, request=_request(owner, in_org))
    assert form.is_valid(), form.errors
    assert form.service_fields()["custom_fields"] == {"vip": False}


# --- API serializer field -------------------------------------------------------------------


class ContactCustomFieldsSerializer(serializers.Serializer):
    custom_fields = CustomFieldsSerializerField(model=Contact)


def test_serializer_field_validates_and_shows_defined_keys_only(in_org, owner, definitions):
    serializer = ContactCustomFieldsSerializer(data={"custom_fields": {"seats": "4"}})
    assert serializer.is_valid()
    assert serializer.validated_data == {"custom_fields": {"seats": 4}}

    with pytest.raises(ApplicationError) as caught:
        ContactCustomFieldsSerializer(data={"custom_fields": {"seats": "x"}}).is_valid()
    assert caught.value.errors == {"custom_fields.seats": ["Enter a whole number."]}

    contact = record_create(
        Contact, org=in_org, actor=owner, first_name="A", custom_fields={"seats": 2, "gone": 1}
    )
    assert ContactCustomFieldsSerializer(contact).data == {"custom_fields": {"seats": 2}}


# --- filters and ordering ---------------------------------------------------------------------


class ContactCustomFieldFilterSet(CustomFieldFilterSetMixin, django_filters.FilterSet):
    class Meta:
        model = Contact
        fields: list[str] = []


@pytest.fixture
def contacts(in_org, owner, admin_user, definitions):
    def make(name, **values):
        return record_create(
            Contact,
            org=in_org,
            actor=owner,
            first_name=name,
            custom_fields=validate_custom_fields(Contact, values),
        )

    return {
        "ada": make(
            "Ada",
            nickname="Countess Lovelace",
            bio="Poet of science",
            seats=3,
            budget="10.5",
            renewal="2027-01-15",
            vip=True,
            tier="Gold",
            regions=["EU", "US"],
            homepage="https://ada.example",
            billing_email="ada@example.com",
            account_manager=owner.pk,
        ),
        "grace": make(
            "Grace",
            nickname="Amazing Grace",
            seats=12,
            budget="9.75",
            renewal="2026-06-30",
            vip=False,
            tier="Silver",
            regions=["US"],
            account_manager=admin_user.pk,
        ),
        "alan": make("Alan", seats=100, budget="1000", tier="Gold", regions=["APAC"]),
        "none": make("Nobody"),
    }


def _filter(params, contacts) -> set[str]:
    filterset = ContactCustomFieldFilterSet(params, queryset=Contact.objects.all())
    assert filterset.is_valid(), filterset.errors
    names = {v.pk: k for k, v in contacts.items()}
    return {names[pk] for pk in filterset.qs.values_list("pk", flat=True)}


def test_filterset_gets_filters_for_the_current_organizations_definitions(contacts):
    filterset = ContactCustomFieldFilterSet({}, queryset=Contact.objects.all())
    assert set(filterset.filters) == {
        "cf_nickname",
        "cf_bio",
        "cf_seats_min",
        "cf_seats_max",
        "cf_budget_min",
        "cf_budget_max",
        "cf_renewal_min",
        "cf_renewal_max",
        "cf_vip",
        "cf_tier",
        "cf_regions",
        "cf_homepage",
        "cf_billing_email",
        "cf_account_manager",
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"cf_nickname": "GRACE"}, {"grace"}),
        ({"cf_nickname": "a"}, {"ada", "grace"}),
        ({"cf_bio": "poet"}, {"ada"}),
        ({"cf_homepage": "ada.example"}, {"ada"}),
        ({"cf_billing_email": "@example.com"}, {"ada"}),
        ({"cf_seats_min": "12"}, {"grace", "alan"}),
        ({"cf_seats_max": "12"}, {"ada", "grace"}),
        ({"cf_seats_min": "4", "cf_seats_max": "99"}, {"grace"}),
        ({"cf_budget_min": "9.8"}, {"ada", "alan"}),
        ({"cf_budget_max": "10.5"}, {"ada", "grace"}),
        ({"cf_renewal_min": "2027-01-01"}, {"ada"}),
        ({"cf_renewal_max": "2026-12-31"}, {"grace"}),
        ({"cf_vip": "true"}, {"ada"}),
        ({"cf_vip": "false"}, {"grace"}),
        ({"cf_tier": "Gold"}, {"ada", "alan"}),
        ({"cf_regions": "US"}, {"ada", "grace"}),
        ({"cf_regions": "APAC"}, {"alan"}),
        ({}, {"ada", "grace", "alan", "none"}),
    ],
)
def test_custom_field_filters(contacts, params, expected):
    assert _filter(params, contacts) == expected


def test_user_filter_matches_by_member(contacts, owner, admin_user):
    assert _filter({"cf_account_manager": str(owner.pk)}, contacts) == {"ada"}
    assert _filter({"cf_account_manager": str(admin_user.pk)}, contacts) == {"grace"}


def test_filter_refuses_a_choice_that_is_not_defined(contacts):
    filterset = ContactCustomFieldFilterSet({"cf_tier": "Tin"}, queryset=Contact.objects.all())
    assert not filterset.is_valid()
    assert list(filterset.errors) == ["cf_tier"]


def test_filters_follow_the_organization_in_context(contacts, other_org, other_owner):
    from pulse.core.tenancy import tenant_context

    with tenant_context(other_org, actor=other_owner):
        filterset = ContactCustomFieldFilterSet({}, queryset=Contact.objects.all())
        assert not [name for name in filterset.filters if name.startswith("cf_")]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("seats", ["ada", "grace", "alan", "none"]),  # numeric, not text ("100" < "12")
        ("budget", ["grace", "ada", "alan", "none"]),
        ("renewal", ["grace", "ada", "alan", "none"]),
        ("nickname", ["grace", "ada", "alan", "none"]),
    ],
)
def test_custom_field_ordering(contacts, key, expected):
    names = {v.pk: k for k, v in contacts.items()}
    expression = custom_field_ordering(Contact, key)
    rows = Contact.objects.order_by(expression.asc(nulls_last=True), "first_name")
    # Rows without a value come last, then by first name (Alan, Nobody).
    assert [names[pk] for pk in rows.values_list("pk", flat=True)] == expected
    assert custom_field_ordering(Contact, "no_such_key") is None


def test_custom_field_keys_named_like_lookups_still_filter(in_org, owner):
    # "contains" or "exact" as a key must not be read as a JSON lookup.
    customfield_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Contact),
        key="contains",
        label="Contains",
        field_type="text",
    )
    hit = record_create(
        Contact, org=in_org, actor=owner, first_name="A", custom_fields={"contains": "needle"}
    )
    record_create(Contact, org=in_org, actor=owner, first_name="B", custom_fields={})
    filterset = ContactCustomFieldFilterSet({"cf_contains": "need"}, queryset=Contact.objects.all())
    assert list(filterset.qs.values_list("pk", flat=True)) == [hit.pk]


def test_read_only_member_still_gets_definitions(in_org, definitions):
    reader = make_member(in_org, Role.READ_ONLY)
    form = ContactNameForm(request=_request(reader, in_org))
    assert len(form.custom_field_names) == len(FIELDS)


class TagCustomFieldFilterSet(CustomFieldFilterSetMixin, django_filters.FilterSet):
    class Meta:
        model = Tag
        fields = ["name"]


def test_mixin_on_a_model_without_custom_fields_adds_nothing(in_org, owner, definitions):
    # Tags carry no custom fields: no definition can exist for them, so no cf_ filters.
    filterset = TagCustomFieldFilterSet({}, queryset=Tag.objects.all())
    assert list(filterset.filters) == ["name"]

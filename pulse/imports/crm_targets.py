"""Import targets for contacts and companies.

Row building turns cells into model values with the same rules the forms and services
apply (phones to E.164 with the organization's country, web addresses completed,
choices by value or label) and validates them through the model's own field
validators (``clean_fields``) plus the checks of ``clean()`` that need no query.

Duplicates are found in memory with the rules of ``pulse.contacts.dedupe``: the
organization's existing keys are loaded once (emails, phones, names by company and
email domain; company name keys and domains), and every row written is added, so a
file's own repeated rows are caught too.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models.fields.json import KeyTextTransform
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rapidfuzz import fuzz, process

from pulse.contacts.dedupe import FREE_MAIL_DOMAINS, NAME_SIMILARITY, fold
from pulse.contacts.models import (
    Company,
    Consent,
    Contact,
    LeadSource,
    LifecycleStage,
    SizeBand,
    company_name_key,
    domain_from_website,
    email_domain,
)
from pulse.contacts.phones import normalize_phone

from .targets import Decision, ImportTarget, Prepared, RowInvalid, TargetField, TargetRun
from .values import (
    CellError,
    choice_table,
    fold_key,
    parse_bool,
    parse_country,
    parse_date,
    parse_decimal,
    parse_int,
    split_multi,
)

CUSTOM_PREFIX = "cf_"
GROUP_CAP = 1000
CONTACT_TEXT_FIELDS = frozenset(
    {"first_name", "last_name", "title", "department", "street", "city", "region", "postal_code"}
)
COMPANY_TEXT_FIELDS = frozenset(
    {"name", "industry", "street", "city", "region", "postal_code", "territory"}
)

# --- field catalogues ---------------------------------------------------------------------

PERSON = gettext_lazy("Person")
WORK = gettext_lazy("Work")
ADDRESS = gettext_lazy("Address")
SALES = gettext_lazy("Sales")
CONSENT = gettext_lazy("Consent")
OTHER = gettext_lazy("Other")
CUSTOM = gettext_lazy("Custom fields")


def _address_fields(prefixes: tuple[str, ...]) -> list[TargetField]:
    def names(*base: str) -> tuple[str, ...]:
        found = list(base)
        for prefix in prefixes:
            found += [f"{prefix} {b}" for b in base]
        return tuple(found)

    return [
        TargetField(
            "street",
            gettext_lazy("Street"),
            names("Street", "Street Address", "Address", "Address Line 1", "Address 1")
            + ("Address 1 - Street", "Business Street", "Home Street", "Address 1 - Formatted"),
            group=ADDRESS,
        ),
        TargetField(
            "city",
            gettext_lazy("City"),
            names("City", "Town") + ("Address 1 - City", "Business City", "Home City"),
            group=ADDRESS,
        ),
        TargetField(
            "region",
            gettext_lazy("Region"),
            names("State", "Region", "Province", "State/Region", "State/Province", "County")
            + ("Address 1 - Region", "Business State", "Home State"),
            group=ADDRESS,
        ),
        TargetField(
            "postal_code",
            gettext_lazy("Postal code"),
            names("Postal Code", "Zip", "Zip Code", "Postcode", "Zip/Postal Code", "Postal")
            + ("Address 1 - Postal Code", "Business Postal Code", "Home Postal Code"),
            group=ADDRESS,
        ),
        TargetField(
            "country",
            gettext_lazy("Country"),
            names("Country", "Country/Region", "Country Code")
            + ("Address 1 - Country", "Business Country/Region", "Home Country/Region"),
            group=ADDRESS,
        ),
    ]


def _custom_target_fields(model) -> list[TargetField]:
    from pulse.extras.customfields import definitions_for

    return [
        TargetField(
            CUSTOM_PREFIX + d.key,
            d.label,
            (d.key, d.label),
            multiple=d.field_type == "multi_choice",
            group=CUSTOM,
        )
        for d in definitions_for(model)
    ]


def _owner_field(*names: str) -> TargetField:
    return TargetField(
        "assigned_to",
        gettext_lazy("Owner (member email or name)"),
        ("Owner", "Assigned To", "Owner Email", "Owner Name", "Sales Rep", "Record Owner", *names),
        group=SALES,
    )


def _tags_field(*names: str) -> TargetField:
    return TargetField(
        "tags",
        gettext_lazy("Tags"),
        ("Tags", "Tag", "Labels", "Label", "Categories", "Group Membership", "Groups", *names),
        multiple=True,
        group=OTHER,
    )


CONTACT_FIELDS = [
    TargetField(
        "first_name",
        gettext_lazy("First name"),
        ("First Name", "Firstname", "Given Name", "First", "Forename", "Person - First name"),
        group=PERSON,
    ),
    TargetField(
        "last_name",
        gettext_lazy("Last name"),
        ("Last Name", "Lastname", "Surname", "Family Name", "Last", "Person - Last name"),
        group=PERSON,
    ),
    TargetField(
        "full_name",
        gettext_lazy("Full name (split into first and last)"),
        ("Name", "Full Name", "Contact Name", "Display Name", "Person - Name", "Contact"),
        group=PERSON,
    ),
    TargetField(
        "email",
        gettext_lazy("Email"),
        (
            "Email",
            "E-mail",
            "Email Address",
            "E-mail Address",
            "E-mail 1 - Value",
            "Email 1",
            "Primary Email",
            "Work Email",
            "Person - Email",
            "Email - Work",
            "Person - Email - Work",
        ),
        group=PERSON,
    ),
    TargetField(
        "other_emails",
        gettext_lazy("Other emails"),
        (
            "Other Emails",
            "Other Email",
            "Secondary Email",
            "Additional Email Addresses",
            "E-mail 2 - Value",
            "E-mail 3 - Value",
            "Email 2",
            "Email 3",
            "E-mail 2 Address",
            "E-mail 3 Address",
            "Personal Email",
            "Home Email",
            "Email - Home",
            "Email - Other",
        ),
        multiple=True,
        group=PERSON,
    ),
    TargetField(
        "phone",
        gettext_lazy("Phone"),
        (
            "Phone",
            "Phone Number",
            "Phone 1 - Value",
            "Business Phone",
            "Work Phone",
            "Telephone",
            "Office Phone",
            "Primary Phone",
            "Phone - Work",
            "Person - Phone",
            "Person - Phone - Work",
        ),
        group=PERSON,
    ),
    TargetField(
        "mobile",
        gettext_lazy("Mobile"),
        (
            "Mobile",
            "Mobile Phone",
            "Mobile Phone Number",
            "Mobile Number",
            "Cell",
            "Cell Phone",
            "Phone 2 - Value",
            "Phone - Mobile",
            "Person - Phone - Mobile",
        ),
        group=PERSON,
    ),
    TargetField(
        "birthday",
        gettext_lazy("Birthday"),
        ("Birthday", "Birthdate", "Date of Birth", "DOB"),
        group=PERSON,
    ),
    TargetField(
        "preferred_language",
        gettext_lazy("Preferred language"),
        ("Language", "Preferred Language"),
        group=PERSON,
    ),
    TargetField(
        "company",
        gettext_lazy("Company (by name; missing ones are created)"),
        (
            "Company",
            "Company Name",
            "Account Name",
            "Account",
            "Organization",
            "Organisation",
            "Organization Name",
            "Organization 1 - Name",
            "Organization - Name",
            "Person - Organization",
            "Employer",
            "Associated Company",
        ),
        group=WORK,
    ),
    TargetField(
        "title",
        gettext_lazy("Job title"),
        ("Job Title", "Title", "Position", "Designation", "Organization 1 - Title", "Role"),
        group=WORK,
    ),
    TargetField(
        "department",
        gettext_lazy("Department"),
        ("Department", "Organization 1 - Department"),
        group=WORK,
    ),
    TargetField(
        "website",
        gettext_lazy("Website"),
        ("Website", "Website URL", "Web Site", "Web Page", "Homepage", "URL", "Website 1 - Value"),
        group=WORK,
    ),
    TargetField(
        "linkedin_url",
        gettext_lazy("LinkedIn"),
        ("LinkedIn", "LinkedIn URL", "LinkedIn Profile", "LinkedIn Bio"),
        group=WORK,
    ),
    TargetField(
        "x_handle",
        gettext_lazy("X handle"),
        ("X", "X Handle", "Twitter", "Twitter Username", "Twitter Handle"),
        group=WORK,
    ),
    *_address_fields(("Mailing", "Mailing Address", "Billing", "Business")),
    TargetField(
        "lead_source",
        gettext_lazy("Lead source"),
        ("Lead Source", "Source", "Original Source", "Original Source Type", "Contact Source"),
        group=SALES,
    ),
    TargetField(
        "lifecycle_stage",
        gettext_lazy("Lifecycle stage"),
        ("Lifecycle Stage", "Lifecycle", "Stage", "Contact Stage"),
        group=SALES,
    ),
    _owner_field("Contact Owner", "Contact Owner Email", "Owner - Email", "HubSpot Owner"),
    TargetField(
        "email_opt_in",
        gettext_lazy("Email consent"),
        ("Email Consent", "Email Opt In", "Email Subscription", "Marketing Emails"),
        group=CONSENT,
    ),
    TargetField(
        "email_opt_out",
        gettext_lazy("Email opt-out (yes = opted out)"),
        ("Email Opt Out", "Unsubscribed", "Unsubscribed from all email", "Opted Out of Email"),
        group=CONSENT,
    ),
    TargetField(
        "phone_opt_in",
        gettext_lazy("Phone consent"),
        ("Phone Consent", "Phone Opt In"),
        group=CONSENT,
    ),
    TargetField(
        "phone_opt_out",
        gettext_lazy("Do not call (yes = opted out)"),
        ("Do Not Call", "Phone Opt Out"),
        group=CONSENT,
    ),
    TargetField(
        "sms_opt_in", gettext_lazy("SMS consent"), ("SMS Consent", "SMS Opt In"), group=CONSENT
    ),
    TargetField(
        "do_not_contact",
        gettext_lazy("Do not contact"),
        ("Do Not Contact", "DNC"),
        group=CONSENT,
    ),
    TargetField(
        "notes",
        gettext_lazy("Notes"),
        ("Notes", "Note", "Description", "Comments", "Contact Description", "Background Info"),
        multiple=True,
        group=OTHER,
    ),
    _tags_field("Contact Tags"),
]

COMPANY_FIELDS = [
    TargetField(
        "name",
        gettext_lazy("Name"),
        (
            "Name",
            "Company",
            "Company Name",
            "Account Name",
            "Account",
            "Organization",
            "Organization Name",
            "Organization - Name",
            "Organisation",
        ),
        group=WORK,
    ),
    TargetField(
        "website",
        gettext_lazy("Website"),
        ("Website", "Website URL", "Web Site", "URL", "Homepage"),
        group=WORK,
    ),
    TargetField(
        "domain",
        gettext_lazy("Domain"),
        ("Domain", "Company Domain Name", "Domain Name", "Email Domain"),
        group=WORK,
    ),
    TargetField("industry", gettext_lazy("Industry"), ("Industry", "Sector"), group=WORK),
    TargetField(
        "size_band",
        gettext_lazy("Company size (band or employee count)"),
        (
            "Company Size",
            "Size",
            "Employees",
            "Number of Employees",
            "No. of Employees",
            "Headcount",
        ),
        group=WORK,
    ),
    TargetField(
        "annual_revenue",
        gettext_lazy("Annual revenue"),
        ("Annual Revenue", "Revenue", "Annual Turnover", "Turnover"),
        group=SALES,
    ),
    TargetField("currency", gettext_lazy("Currency"), ("Currency", "Currency Code"), group=SALES),
    TargetField(
        "phone",
        gettext_lazy("Phone"),
        ("Phone", "Phone Number", "Company Phone", "Telephone", "Main Phone", "Phone 1 - Value"),
        group=WORK,
    ),
    *_address_fields(("Billing", "Billing Address", "Company", "Shipping")),
    TargetField(
        "description",
        gettext_lazy("Description"),
        ("Description", "About", "Notes", "Company Description", "About Us"),
        multiple=True,
        group=OTHER,
    ),
    TargetField(
        "territory", gettext_lazy("Territory"), ("Territory", "Sales Territory"), group=SALES
    ),
    TargetField(
        "parent",
        gettext_lazy("Parent company (by name)"),
        ("Parent Company", "Parent Account", "Parent", "Parent Organization"),
        group=WORK,
    ),
    _owner_field("Company Owner", "Account Owner", "Account Owner Email"),
    _tags_field("Company Tags"),
]

LIFECYCLE_TABLE = choice_table(
    LifecycleStage.choices,
    {
        "marketingqualifiedlead": LifecycleStage.MARKETING_QUALIFIED,
        "mql": LifecycleStage.MARKETING_QUALIFIED,
        "salesqualifiedlead": LifecycleStage.SALES_QUALIFIED,
        "sql": LifecycleStage.SALES_QUALIFIED,
        "prospect": LifecycleStage.LEAD,
        "client": LifecycleStage.CUSTOMER,
        "customers": LifecycleStage.CUSTOMER,
    },
)
LEAD_SOURCE_TABLE = choice_table(
    LeadSource.choices,
    {
        "organicsearch": LeadSource.WEB,
        "directtraffic": LeadSource.WEB,
        "paidsearch": LeadSource.WEB,
        "webform": LeadSource.WEB,
        "web": LeadSource.WEB,
        "seo": LeadSource.WEB,
        "referrals": LeadSource.REFERRAL,
        "wordofmouth": LeadSource.REFERRAL,
        "partner": LeadSource.REFERRAL,
        "socialmedia": LeadSource.SOCIAL,
        "organicsocial": LeadSource.SOCIAL,
        "paidsocial": LeadSource.SOCIAL,
        "linkedin": LeadSource.SOCIAL,
        "facebook": LeadSource.SOCIAL,
        "tradeshow": LeadSource.EVENT,
        "conference": LeadSource.EVENT,
        "seminar": LeadSource.EVENT,
        "webinar": LeadSource.EVENT,
        "emailmarketing": LeadSource.CAMPAIGN,
        "advertisement": LeadSource.CAMPAIGN,
        "paidads": LeadSource.CAMPAIGN,
        "offlinesources": LeadSource.IMPORT,
        "offline": LeadSource.IMPORT,
        "coldcall": LeadSource.MANUAL,
        "api": LeadSource.API,
        "integration": LeadSource.API,
    },
)
CONSENT_TABLE = choice_table(
    Consent.choices,
    {
        "optedin": Consent.OPTED_IN,
        "optin": Consent.OPTED_IN,
        "subscribed": Consent.OPTED_IN,
        "granted": Consent.OPTED_IN,
        "yes": Consent.OPTED_IN,
        "true": Consent.OPTED_IN,
        "1": Consent.OPTED_IN,
        "optedout": Consent.OPTED_OUT,
        "optout": Consent.OPTED_OUT,
        "unsubscribed": Consent.OPTED_OUT,
        "withdrawn": Consent.OPTED_OUT,
        "no": Consent.OPTED_OUT,
        "false": Consent.OPTED_OUT,
        "0": Consent.OPTED_OUT,
        "notspecified": Consent.UNKNOWN,
    },
)
SIZE_TABLE = choice_table(SizeBand.choices, {})
SIZE_LIMITS = [
    (10, SizeBand.S1_10),
    (50, SizeBand.S11_50),
    (200, SizeBand.S51_200),
    (500, SizeBand.S201_500),
    (1000, SizeBand.S501_1000),
    (5000, SizeBand.S1001_5000),
]


# --- shared run machinery -------------------------------------------------------------------


def _url(text: str) -> str:
    text = text.strip()
    if text and "://" not in text:
        return f"https://{text}"
    return text


class Ref:
    """Where a duplicate key was seen: an existing record (line 0) or a row of this file."""

    __slots__ = ("line", "pk")

    def __init__(self, pk, line: int = 0):
        self.pk = pk
        self.line = line


class BaseRun(TargetRun):
    """Caches both targets share: members, tags, custom fields, the organization's ways."""

    model = None
    field_names: frozenset[str] = frozenset()

    def __init__(self, *, job, actor):
        from pulse.accounts.selectors import organization_members
        from pulse.extras.customfields import definitions_for

        self.job = job
        self.actor = actor
        self.org = job.organization
        self.region = self.org.country or ""
        self.day_first = self.org.date_format != "m/d/Y"
        members = list(organization_members(self.org))
        self.members: dict[str, int] = {}
        for member in members:
            for key in (member.email, member.full_name, member.get_short_name()):
                if key:
                    self.members.setdefault(key.strip().casefold(), member.pk)
        self.definitions = {d.key: d for d in definitions_for(self.model)}
        self.mapped_keys = set(job.mapping.values())
        self.phone_cache: dict[str, str] = {}
        self.fields_by_attname = {f.attname: f for f in self.model._meta.concrete_fields}

    # -- cell parsers shared by both targets --

    def phone(self, text: str) -> str:
        cached = self.phone_cache.get(text)
        if cached is None:
            try:
                cached = normalize_phone(text, self.region)
            except ValidationError as exc:
                cached = "!" + str(exc.messages[0])
            if len(self.phone_cache) < 200_000:
                self.phone_cache[text] = cached
        if cached.startswith("!"):
            raise CellError(cached[1:])
        return cached

    def owner(self, text: str) -> int:
        found = self.members.get(text.strip().casefold())
        if found is None:
            raise CellError(_("No member of this organization has this email or name."))
        return found

    def custom_value(self, key: str, texts: list[str]):
        from pulse.extras.models import FieldType

        definition = self.definitions[key]
        text = texts[0]
        kind = definition.field_type
        if kind == FieldType.BOOLEAN:
            return parse_bool(text)
        if kind == FieldType.NUMBER:
            return parse_int(text)
        if kind == FieldType.DECIMAL:
            return str(parse_decimal(text, places=6))
        if kind == FieldType.DATE:
            return parse_date(text, day_first=self.day_first).isoformat()
        if kind == FieldType.MULTI_CHOICE:
            return [v for t in texts for v in split_multi(t)]
        if kind == FieldType.USER:
            return self.owner(text)
        if kind == FieldType.CHOICE:
            by_fold = {fold_key(c): c for c in definition.choices or []}
            return by_fold.get(fold_key(text), text)
        return text

    def custom_fields(self, values: dict, errors: dict, *, creating: bool) -> dict | None:
        from pulse.core.errors import ApplicationError
        from pulse.extras.customfields import validate_custom_fields

        raw = {}
        for key, texts in values.items():
            if not key.startswith(CUSTOM_PREFIX):
                continue
            name = key[len(CUSTOM_PREFIX) :]
            if name not in self.definitions:
                continue
            try:
                raw[name] = self.custom_value(name, texts)
            except CellError as exc:
                errors[key] = str(exc)
        if not raw and not creating:
            return None
        definitions = (
            list(self.definitions.values())
            if creating
            else [d for k, d in self.definitions.items() if k in raw]
        )
        if not definitions:
            return None
        try:
            return validate_custom_fields(self.model, raw, definitions=definitions)
        except ApplicationError as exc:
            for name, messages in exc.errors.items():
                key = CUSTOM_PREFIX + name.split(".", 1)[-1]
                errors.setdefault(key, "; ".join(messages))
            return None

    def validate(self, fields: dict, errors: dict, names_to_keys: dict[str, str]) -> None:
        """The model's own field validation (``Field.clean``: type, choices, length,
        validators) for each value the row sets, as ``Model.clean_fields`` does.

        Related records (``company_id`` …) were resolved by the run itself, so their
        fields are left out (a foreign key's validation would query per row).
        """
        by_attname = self.fields_by_attname
        for attname, value in fields.items():
            field = by_attname.get(attname)
            if field is None or field.is_relation:
                continue
            if field.blank and value in field.empty_values:
                continue
            try:
                fields[attname] = field.clean(value, None)
            except ValidationError as exc:
                key = names_to_keys.get(field.name, field.name)
                errors.setdefault(key, " ".join(exc.messages))


def _join_text(texts: list[str]) -> str:
    return "\n\n".join(texts)


# --- contacts -----------------------------------------------------------------------------------


class ContactRun(BaseRun):
    """Builds contact rows and finds their duplicates in memory."""

    model = Contact

    def __init__(self, *, job, actor):
        super().__init__(job=job, actor=actor)
        self.emails: dict[str, Ref] = {}
        self.phones: dict[str, Ref] = {}
        # company id / email domain → (folded names, refs): rapidfuzz reads the names list.
        self.by_company: dict[Any, tuple[list, list]] = defaultdict(lambda: ([], []))
        self.by_domain: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        self.external: dict[str, Ref] = {}
        self.companies: dict[str, Any] = {}  # name key -> pk (existing or pending)
        self.pending_companies: dict[Any, tuple[str, int]] = {}  # pk -> (name, line)
        self.match_key = job.match_by if job.match_by.startswith(CUSTOM_PREFIX) else ""
        self.loaded = False
        visible = Company.objects.restrict(self.actor, "view")
        for pk, key in visible.values_list("pk", "name_key").iterator(5000):
            self.companies.setdefault(key, pk)

    def _load(self) -> None:
        """The duplicate index: loaded on the first row decided (a preview never needs it)."""
        if self.loaded:
            return
        self.loaded = True
        if self.job.mode == "create":
            return
        contacts = Contact.objects.restrict(self.actor, "view")
        columns = ["pk", "email", "phone", "mobile", "first_name", "last_name", "company_id"]
        columns.append("email_domain")
        if self.match_key:
            contacts = contacts.annotate(
                _ext=KeyTextTransform(self.match_key[len(CUSTOM_PREFIX) :], "custom_fields")
            )
            columns.append("_ext")
        for values in contacts.values_list(*columns).iterator(5000):
            pk, email, phone, mobile, first, last, company_id, domain = values[:8]
            ref = Ref(pk)
            if email:
                self.emails.setdefault(email.lower(), ref)
            if self.job.mode == "skip":
                for number in (phone, mobile):
                    if number:
                        self.phones.setdefault(number, ref)
                name = fold(f"{first} {last}")
                if name:
                    if company_id:
                        _add(self.by_company[company_id], name, ref)
                    if domain and domain not in FREE_MAIL_DOMAINS:
                        _add(self.by_domain[domain], name, ref)
            if self.match_key and values[8]:
                self.external.setdefault(values[8], ref)

    # -- building --

    def company_pk(self, name: str, line: int):
        return _company_by_name(self.companies, self.pending_companies, name, line)

    def build(self, values: dict[str, list[str]], line: int, cells: list[str]) -> Prepared:
        fields: dict[str, Any] = {}
        errors: dict[str, str] = {}
        tags: list[str] = []
        for key, texts in values.items():
            text = texts[0]
            try:
                if key in CONTACT_TEXT_FIELDS:
                    fields[key] = text
                elif key == "full_name":
                    first, last = _split_name(text)
                    fields.setdefault("first_name", first)
                    fields.setdefault("last_name", last)
                elif key == "email":
                    fields["email"] = text.strip()
                elif key == "other_emails":
                    found = []
                    for address in (a for t in texts for a in split_multi(t)):
                        try:
                            validate_email(address)
                        except ValidationError:
                            raise CellError(
                                _("“%(email)s” is not a valid email address.")
                                % {"email": address[:100]}
                            )
                        found.append({"label": "other", "email": address})
                    fields["other_emails"] = found
                elif key in ("phone", "mobile"):
                    fields[key] = self.phone(text)
                elif key == "company":
                    fields["company_id"] = self.company_pk(text, line)
                elif key in ("website", "linkedin_url"):
                    fields[key] = _url(text)
                elif key == "x_handle":
                    handle = text.rstrip("/").rsplit("/", 1)[-1]
                    fields["x_handle"] = "@" + handle.lstrip("@")
                elif key == "lead_source":
                    fields["lead_source"] = LEAD_SOURCE_TABLE.get(fold_key(text), LeadSource.OTHER)
                elif key == "lifecycle_stage":
                    stage = LIFECYCLE_TABLE.get(fold_key(text))
                    if stage is None:
                        raise CellError(
                            _("Unknown stage; use one of: %(choices)s.")
                            % {"choices": ", ".join(str(lb) for _v, lb in LifecycleStage.choices)}
                        )
                    fields["lifecycle_stage"] = stage
                elif key in ("email_opt_in", "phone_opt_in", "sms_opt_in"):
                    consent = CONSENT_TABLE.get(fold_key(text))
                    if consent is None:
                        raise CellError(_("Use opted in, opted out or unknown."))
                    fields[key] = consent
                elif key in ("email_opt_out", "phone_opt_out"):
                    if parse_bool(text):
                        fields[key.replace("_out", "_in")] = Consent.OPTED_OUT
                elif key == "do_not_contact":
                    fields["do_not_contact"] = parse_bool(text)
                elif key == "preferred_language":
                    fields["preferred_language"] = text.strip().replace("_", "-").lower()
                elif key == "birthday":
                    fields["birthday"] = parse_date(text, day_first=self.day_first)
                elif key == "country":
                    fields["country"] = parse_country(text)
                elif key == "notes":
                    fields["notes"] = _join_text(texts)
                elif key == "tags":
                    tags = _tag_names(texts)
                elif key == "assigned_to":
                    fields["assigned_to_id"] = self.owner(text)
            except CellError as exc:
                errors[key] = str(exc)
        creating = self.job.mode == "create" or not self._may_match(fields, values)
        custom = self.custom_fields(values, errors, creating=creating)
        if custom:
            fields["custom_fields"] = custom
        names = {"first_name": "first_name", "last_name": "last_name"}
        if "full_name" in values:
            names = {"first_name": "full_name", "last_name": "full_name"}
        self.validate(fields, errors, names)
        if "email" in fields and "email" not in errors:
            fields["email_domain"] = email_domain(fields["email"])
        if errors:
            raise RowInvalid(errors)
        return Prepared(line=line, cells=cells, fields=fields, tags=tags)

    def _may_match(self, fields: dict, values: dict) -> bool:
        if self.job.mode != "update":
            return False
        return bool(fields.get("email")) if not self.match_key else self.match_key in values

    def check(self, row: Prepared) -> str:
        if not _has_name(row.fields):
            return _("Give the contact a name or an email address.")
        return ""

    def describe(self, values: dict) -> str:
        # Contact.__str__ without building the instance.
        name = " ".join(p for p in (values.get("first_name"), values.get("last_name")) if p)
        return name or values.get("email") or str(_("(no name)"))

    # -- duplicates --

    def _similar(self, group: tuple[list[str], list[Ref]] | None, name: str) -> Ref | None:
        if not group:
            return None
        names, refs = group
        found = process.extractOne(
            name, names, scorer=fuzz.token_sort_ratio, score_cutoff=NAME_SIMILARITY
        )
        return refs[found[2]] if found else None

    def decide(self, row: Prepared, *, mode: str, match_by: str) -> Decision:
        self._load()
        fields = row.fields
        email = (fields.get("email") or "").lower()
        if mode == "create":
            if not _has_name(fields):
                return Decision("fail", reason=_("Give the contact a name or an email address."))
            return Decision("create")
        if mode == "update":
            key_ref = None
            if self.match_key:
                value = (fields.get("custom_fields") or {}).get(self.match_key[3:])
                key_ref = self.external.get(str(value)) if value not in (None, "") else None
            elif email:
                key_ref = self.emails.get(email)
            if key_ref is not None:
                if key_ref.line:
                    return Decision(
                        "skip",
                        reason=_("Same record as line %(line)d of this file.")
                        % {"line": key_ref.line},
                    )
                return Decision("update", pk=key_ref.pk)
            if not _has_name(fields):
                return Decision("fail", reason=_("Give the contact a name or an email address."))
            return Decision("create")
        # skip duplicates: the rules of pulse.contacts.dedupe, in memory
        if not _has_name(fields):
            return Decision("fail", reason=_("Give the contact a name or an email address."))
        reason = ""
        ref = None
        if email and email in self.emails:
            ref, reason = self.emails[email], _("Same email")
        if ref is None:
            for number in (fields.get("phone"), fields.get("mobile")):
                if number and number in self.phones:
                    ref, reason = self.phones[number], _("Same phone number")
                    break
        name = fold(f"{fields.get('first_name', '')} {fields.get('last_name', '')}")
        if ref is None and name:
            company_id = fields.get("company_id")
            if company_id is not None:
                ref = self._similar(self.by_company.get(company_id), name)
                if ref is not None:
                    reason = _("Similar name at the same company")
            domain = fields.get("email_domain") or ""
            if ref is None and domain and domain not in FREE_MAIL_DOMAINS:
                ref = self._similar(self.by_domain.get(domain), name)
                if ref is not None:
                    reason = _("Similar name with the same email domain")
        if ref is not None:
            where = (
                _("line %(line)d of this file") % {"line": ref.line}
                if ref.line
                else _("an existing contact")
            )
            return Decision("skip", pk=ref.pk, reason=f"{reason} ({where})")
        return Decision("create")

    def remember(self, row: Prepared) -> None:
        self._load()
        fields = row.fields
        ref = Ref(row.pk, row.line)
        email = (fields.get("email") or "").lower()
        if email:
            # The row is now what this key points to: a later row with it is a repeat.
            self.emails[email] = ref
        if self.job.mode == "skip":
            for number in (fields.get("phone"), fields.get("mobile")):
                if number:
                    self.phones.setdefault(number, ref)
            name = fold(f"{fields.get('first_name', '')} {fields.get('last_name', '')}")
            if name:
                if fields.get("company_id"):
                    _add(self.by_company[fields["company_id"]], name, ref)
                domain = fields.get("email_domain")
                if domain and domain not in FREE_MAIL_DOMAINS:
                    _add(self.by_domain[domain], name, ref)
        if self.match_key:
            value = (fields.get("custom_fields") or {}).get(self.match_key[3:])
            if value not in (None, ""):
                self.external[str(value)] = ref

    def before_write(self, rows: list[Prepared], writer) -> None:
        needed = []
        for row in rows:
            pk = row.fields.get("company_id")
            if pk in self.pending_companies:
                name, _line = self.pending_companies.pop(pk)
                needed.append(
                    (
                        Company(
                            pk=pk,
                            organization=self.org,
                            name=name,
                            name_key=company_name_key(name),
                            assigned_to=self.actor,
                            created_by=self.actor,
                            updated_by=self.actor,
                        ),
                        row.line,
                    )
                )
        if needed:
            writer.create_records(Company, needed)

    def update_fields(self, row: Prepared, instance) -> dict[str, Any]:
        changes = super().update_fields(row, instance)
        changes.pop("email_domain", None)
        if changes.get("email", "").lower() == (instance.email or "").lower():
            changes.pop("email", None)  # matched by it: only the case differs
        if "email" in changes:
            changes["email_domain"] = email_domain(changes["email"])
        if "other_emails" in changes:
            known = {(e.get("email") or "").lower() for e in instance.other_emails or []}
            known.add((instance.email or "").lower())
            extra = [e for e in changes["other_emails"] if e["email"].lower() not in known]
            if extra:
                changes["other_emails"] = [*(instance.other_emails or []), *extra]
            else:
                changes.pop("other_emails")
        if "custom_fields" in changes:
            changes["custom_fields"] = {
                **(instance.custom_fields or {}),
                **changes["custom_fields"],
            }
        return changes


def _add(group: tuple[list, list], name: str, ref: Ref) -> None:
    # Like dedupe.CANDIDATE_CAP: a group (a company, a domain) is compared against at most
    # this many names, so a shared domain with 100,000 people cannot slow every row.
    if len(group[0]) < GROUP_CAP:
        group[0].append(name)
        group[1].append(ref)


def _has_name(fields: dict) -> bool:
    return bool(fields.get("first_name") or fields.get("last_name") or fields.get("email"))


def _split_name(text: str) -> tuple[str, str]:
    """``"Lovelace, Ada"`` and ``"Ada Lovelace"`` → ``("Ada", "Lovelace")``."""
    text = " ".join(text.split())
    if "," in text:
        last, _sep, first = text.partition(",")
        return first.strip()[:100], last.strip()[:100]
    first, _sep, last = text.partition(" ")
    return first[:100], last[:100]


def _tag_names(texts: list[str]) -> list[str]:
    names = []
    for text in texts:
        for name in split_multi(text):
            if name.startswith("* "):  # Google Contacts' system groups ("* myContacts")
                continue
            names.append(name[:50])
    return list(dict.fromkeys(names))


class ContactTarget(ImportTarget):
    key = "contacts"
    label = gettext_lazy("Contacts")
    model = Contact
    icon = "bi-person-lines-fill"
    list_url_name = "contacts:contact_list"

    def fields(self) -> list[TargetField]:
        return [*CONTACT_FIELDS, *_custom_target_fields(Contact)]

    def match_options(self) -> list[tuple[str, str]]:
        return [("email", str(_("Email"))), *_external_options(Contact)]

    def required_hint(self) -> str:
        return _("Each contact needs a first name, a last name or an email.")

    def start(self, *, job, actor) -> ContactRun:
        return ContactRun(job=job, actor=actor)


def _external_options(model) -> list[tuple[str, str]]:
    from pulse.extras.customfields import definitions_for

    return [
        (
            CUSTOM_PREFIX + d.key,
            _("Custom field “%(label)s” (an id from another system)") % {"label": d.label},
        )
        for d in definitions_for(model)
        if d.field_type in ("text", "number", "email", "url")
    ]


# --- companies -----------------------------------------------------------------------------------


class CompanyRun(BaseRun):
    """Builds company rows; duplicates by name key, domain, or a similar name."""

    model = Company

    def __init__(self, *, job, actor):
        super().__init__(job=job, actor=actor)
        self.keys: dict[str, Ref] = {}
        self.domains: dict[str, Ref] = {}
        self.prefixes: dict[str, list[tuple[str, Ref]]] = defaultdict(list)
        self.external: dict[str, Ref] = {}
        self.all_keys: dict[str, Any] = {}
        self.pending_parents: dict[Any, tuple[str, int]] = {}
        self.match_key = job.match_by if job.match_by.startswith(CUSTOM_PREFIX) else ""
        self._load()

    def _load(self) -> None:
        companies = Company.objects.restrict(self.actor, "view")
        columns = ["pk", "name_key", "domain"]
        if self.match_key:
            companies = companies.annotate(
                _ext=KeyTextTransform(self.match_key[len(CUSTOM_PREFIX) :], "custom_fields")
            )
            columns.append("_ext")
        for values in companies.values_list(*columns).iterator(5000):
            pk, key, domain = values[:3]
            ref = Ref(pk)
            self.all_keys.setdefault(key, pk)
            if self.job.mode == "create":
                continue
            if key:
                self.keys.setdefault(key, ref)
                if self.job.mode == "skip":
                    self.prefixes[key.split(" ", 1)[0]].append((key, ref))
            if domain:
                self.domains.setdefault(domain, ref)
            if self.match_key and values[3]:
                self.external.setdefault(values[3], ref)

    def parent_pk(self, name: str, line: int):
        return _company_by_name(self.all_keys, self.pending_parents, name, line)

    def build(self, values: dict[str, list[str]], line: int, cells: list[str]) -> Prepared:
        fields: dict[str, Any] = {}
        errors: dict[str, str] = {}
        tags: list[str] = []
        for key, texts in values.items():
            text = texts[0]
            try:
                if key in COMPANY_TEXT_FIELDS:
                    fields[key] = text
                elif key == "website":
                    fields["website"] = _url(text)
                elif key == "domain":
                    fields["domain"] = domain_from_website(text) or text.strip().lower()
                elif key == "size_band":
                    fields["size_band"] = _size_band(text)
                elif key == "annual_revenue":
                    fields["annual_revenue"] = parse_decimal(text)
                elif key == "currency":
                    fields["currency"] = text.strip().upper()
                elif key == "phone":
                    fields["phone"] = self.phone(text)
                elif key == "country":
                    fields["country"] = parse_country(text)
                elif key == "description":
                    fields["description"] = _join_text(texts)
                elif key == "parent":
                    fields["parent_id"] = self.parent_pk(text, line)
                elif key == "tags":
                    tags = _tag_names(texts)
                elif key == "assigned_to":
                    fields["assigned_to_id"] = self.owner(text)
            except CellError as exc:
                errors[key] = str(exc)
        if fields.get("annual_revenue") is not None and not fields.get("currency"):
            fields["currency"] = self.org.default_currency
        if fields.get("website") and not fields.get("domain"):
            fields["domain"] = domain_from_website(fields["website"])
        creating = self.job.mode == "create" or not self._may_match(fields, values)
        custom = self.custom_fields(values, errors, creating=creating)
        if custom:
            fields["custom_fields"] = custom
        self.validate(fields, errors, {})
        if fields.get("name"):
            fields["name_key"] = company_name_key(fields["name"])
        if errors:
            raise RowInvalid(errors)
        return Prepared(line=line, cells=cells, fields=fields, tags=tags)

    def describe(self, values: dict) -> str:
        return values.get("name") or ""

    def check(self, row: Prepared) -> str:
        return "" if row.fields.get("name") else _("Give the company a name.")

    def _may_match(self, fields: dict, values: dict) -> bool:
        if self.job.mode != "update":
            return False
        if self.match_key:
            return self.match_key in values
        return bool(fields.get("domain") if self.job.match_by == "domain" else fields.get("name"))

    def decide(self, row: Prepared, *, mode: str, match_by: str) -> Decision:
        fields = row.fields
        key = fields.get("name_key") or ""
        domain = fields.get("domain") or ""
        if mode == "update":
            ref = None
            if self.match_key:
                value = (fields.get("custom_fields") or {}).get(self.match_key[3:])
                ref = self.external.get(str(value)) if value not in (None, "") else None
            elif match_by == "domain":
                ref = self.domains.get(domain) if domain else None
            else:
                ref = self.keys.get(key) if key else None
            if ref is not None:
                if ref.line:
                    return Decision(
                        "skip",
                        reason=_("Same record as line %(line)d of this file.") % {"line": ref.line},
                    )
                return Decision("update", pk=ref.pk)
        if not fields.get("name"):
            return Decision("fail", reason=_("Give the company a name."))
        if mode != "skip":
            return Decision("create")
        ref, reason = None, ""
        if key and key in self.keys:
            ref, reason = self.keys[key], _("Same name")
        if ref is None and domain and domain not in FREE_MAIL_DOMAINS and domain in self.domains:
            ref, reason = self.domains[domain], _("Same website domain")
        if ref is None and key:
            groups = self.prefixes.get(key.split(" ", 1)[0], [])
            if groups and len(key.split(" ", 1)[0]) >= 3:
                found = process.extractOne(
                    key, [n for n, _r in groups], scorer=fuzz.ratio, score_cutoff=NAME_SIMILARITY
                )
                if found:
                    ref, reason = groups[found[2]][1], _("Similar name")
        if ref is not None:
            where = (
                _("line %(line)d of this file") % {"line": ref.line}
                if ref.line
                else _("an existing company")
            )
            return Decision("skip", pk=ref.pk, reason=f"{reason} ({where})")
        return Decision("create")

    def remember(self, row: Prepared) -> None:
        fields = row.fields
        ref = Ref(row.pk, row.line)
        key = fields.get("name_key")
        if key:
            self.keys[key] = ref
            self.all_keys.setdefault(key, row.pk)
            self.pending_parents.pop(self.all_keys.get(key), None)
            if self.job.mode == "skip":
                self.prefixes[key.split(" ", 1)[0]].append((key, ref))
        if fields.get("domain"):
            self.domains[fields["domain"]] = ref
        if self.match_key:
            value = (fields.get("custom_fields") or {}).get(self.match_key[3:])
            if value not in (None, ""):
                self.external[str(value)] = ref

    def before_write(self, rows: list[Prepared], writer) -> None:
        needed = []
        for row in rows:
            pk = row.fields.get("parent_id")
            if pk in self.pending_parents:
                name, _line = self.pending_parents.pop(pk)
                needed.append(
                    (
                        Company(
                            pk=pk,
                            organization=self.org,
                            name=name,
                            name_key=company_name_key(name),
                            assigned_to=self.actor,
                            created_by=self.actor,
                            updated_by=self.actor,
                        ),
                        row.line,
                    )
                )
                self.keys.setdefault(company_name_key(name), Ref(pk, row.line))
        if needed:
            writer.create_records(Company, needed)

    def update_fields(self, row: Prepared, instance) -> dict[str, Any]:
        changes = super().update_fields(row, instance)
        if "custom_fields" in changes:
            changes["custom_fields"] = {
                **(instance.custom_fields or {}),
                **changes["custom_fields"],
            }
        if changes.get("parent_id") is not None and changes["parent_id"] != instance.parent_id:
            instance.parent_id = changes["parent_id"]
            try:
                instance._check_parent()
            except ValidationError as exc:
                raise RowInvalid({"parent": " ".join(exc.messages)})
        return changes

    def assign_pk(self, row: Prepared) -> None:
        """A row whose name was first seen as another row's parent takes that pending id."""
        key = row.fields.get("name_key")
        pk = self.all_keys.get(key) if key else None
        if pk is not None and pk in self.pending_parents:
            self.pending_parents.pop(pk)
            row.pk = pk


def _size_band(text: str) -> str:
    band = SIZE_TABLE.get(fold_key(text))
    if band is not None:
        return band
    cleaned = text.replace("–", "-").replace(" ", "")
    if "-" in cleaned:
        cleaned = cleaned.rsplit("-", 1)[-1]
    cleaned = cleaned.rstrip("+")
    try:
        count = parse_int(cleaned)
    except CellError:
        raise CellError(_("Use a size band such as 11-50, or a number of employees."))
    for limit, value in SIZE_LIMITS:
        if count <= limit:
            return value
    return SizeBand.S5000_PLUS


class CompanyTarget(ImportTarget):
    key = "companies"
    label = gettext_lazy("Companies")
    model = Company
    icon = "bi-buildings"
    list_url_name = "contacts:company_list"

    def fields(self) -> list[TargetField]:
        return [*COMPANY_FIELDS, *_custom_target_fields(Company)]

    def match_options(self) -> list[tuple[str, str]]:
        return [
            ("name", str(_("Company name"))),
            ("domain", str(_("Domain"))),
            *_external_options(Company),
        ]

    def required_hint(self) -> str:
        return _("Each company needs a name.")

    def start(self, *, job, actor) -> CompanyRun:
        return CompanyRun(job=job, actor=actor)


def _register() -> None:
    from .targets import register_target

    register_target(ContactTarget())
    register_target(CompanyTarget())


_register()


def _company_by_name(known: dict, pending: dict, name: str, line: int):
    """The id of the company called ``name``: a known one by its name key, or a new id
    recorded in ``pending`` (created before the batch is written)."""
    key = company_name_key(name)
    if not key:
        raise CellError(_("Enter a company name."))
    pk = known.get(key)
    if pk is None:
        pk = uuid.uuid4()
        known[key] = pk
        pending[pk] = (name.strip()[:200], line)
    return pk

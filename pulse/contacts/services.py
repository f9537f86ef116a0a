"""Every state change of contacts and companies (DESIGN rule 3).

Each service is atomic, keyword-only, takes the acting user and goes through
``pulse.core.services`` so validation, versioning, soft delete and the change log
behave as for every other record. Errors are ``ApplicationError`` with field errors.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from pulse.core.errors import ApplicationError
from pulse.core.services import record_create, record_delete, record_restore, record_update

from .models import Company, Contact, domain_from_website

# --- normalisation shared by create and update -----------------------------------------

_STRIPPED = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "title",
    "department",
    "name",
    "website",
    "domain",
    "industry",
    "territory",
    "x_handle",
    "linkedin_url",
    "street",
    "city",
    "region",
    "postal_code",
    "preferred_language",
)


def _normalize_url(value: str) -> str:
    """``northwind.com`` → ``https://northwind.com`` (people rarely type the scheme)."""
    value = (value or "").strip()
    if value and "://" not in value:
        return f"https://{value}"
    return value


def _normalize(fields: dict[str, Any]) -> dict[str, Any]:
    for name in _STRIPPED:
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    for name in ("website", "linkedin_url"):
        if name in fields:
            fields[name] = _normalize_url(fields[name] or "")
    if isinstance(fields.get("country"), str):
        fields["country"] = fields["country"].strip().upper()
    if isinstance(fields.get("currency"), str):
        fields["currency"] = fields["currency"].strip().upper()
    if isinstance(fields.get("domain"), str):
        fields["domain"] = fields["domain"].lower()
    if isinstance(fields.get("x_handle"), str) and fields["x_handle"]:
        fields["x_handle"] = "@" + fields["x_handle"].lstrip("@")
    for name in ("email", "phone", "mobile", "website", "linkedin_url", "notes", "description"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    return fields


def _validated_custom_fields(model, fields: dict[str, Any]) -> None:
    """Custom field values are checked against the organization's definitions."""
    if "custom_fields" not in fields:
        return
    from pulse.extras.customfields import validate_custom_fields

    values = fields["custom_fields"] or {}
    cleaned = validate_custom_fields(model, values)
    fields["custom_fields"] = values if cleaned is None else cleaned


# --- companies ---------------------------------------------------------------------


def _company_fields(fields: dict[str, Any], *, org=None, instance: Company | None = None) -> dict:
    fields = _normalize(dict(fields))
    old_website = instance.website if instance else ""
    old_domain = instance.domain if instance else ""
    website = fields.get("website", old_website)
    domain = fields.get("domain", old_domain)
    # The domain follows the website unless someone typed a different one.
    if not domain or (website != old_website and domain == domain_from_website(old_website)):
        domain = domain_from_website(website)
    if domain != old_domain or "domain" in fields:
        fields["domain"] = domain
    if fields.get("annual_revenue") is not None and not fields.get("currency"):
        current = instance.currency if instance else ""
        fields["currency"] = current or (org or instance.organization).default_currency
    _validated_custom_fields(Company, fields)
    return fields


@transaction.atomic
def company_create(*, org, actor, **fields) -> Company:
    """Create a company; the domain comes from the website when not given."""
    fields.setdefault("assigned_to", actor)
    return record_create(Company, org=org, actor=actor, **_company_fields(fields, org=org))


@transaction.atomic
def company_update(
    *, company: Company, actor, expected_version: int | None = None, **fields
) -> Company:
    """Change a company's fields; a stale ``expected_version`` is refused."""
    fields = _company_fields(fields, instance=company)
    return record_update(company, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def company_delete(*, company: Company, actor) -> Company:
    """Move a company to the trash; its contacts and child companies keep the link."""
    return record_delete(company, actor=actor)


@transaction.atomic
def company_restore(*, company: Company, actor) -> Company:
    """Bring a company back from the trash."""
    return record_restore(company, actor=actor)


# --- contacts ----------------------------------------------------------------------


def _contact_fields(fields: dict[str, Any]) -> dict:
    fields = _normalize(dict(fields))
    _validated_custom_fields(Contact, fields)
    return fields


@transaction.atomic
def contact_create(*, org, actor, **fields) -> Contact:
    """Create a contact, owned by the actor unless ``assigned_to`` says otherwise."""
    fields.setdefault("assigned_to", actor)
    return record_create(Contact, org=org, actor=actor, **_contact_fields(fields))


@transaction.atomic
def contact_update(
    *, contact: Contact, actor, expected_version: int | None = None, **fields
) -> Contact:
    """Change a contact's fields; a stale ``expected_version`` is refused."""
    return record_update(
        contact, actor=actor, expected_version=expected_version, **_contact_fields(fields)
    )


@transaction.atomic
def contact_delete(*, contact: Contact, actor) -> Contact:
    """Move a contact to the trash (restorable with its tags and company link)."""
    return record_delete(contact, actor=actor)


@transaction.atomic
def contact_restore(*, contact: Contact, actor) -> Contact:
    """Bring a contact back from the trash."""
    return record_restore(contact, actor=actor)


# --- bulk actions from the list pages ----------------------------------------------------

# The largest list page: a bigger selection becomes a background task with progress
# when the bulk-actions work of issue 3 lands.
BULK_LIMIT = 200
BULK_ACTIONS = ("delete", "assign", "tag", "stage")


def _bulk(records, *, actor, action: str, update, delete, assigned_to=None, tags=(), stage=None):
    records = list(records[: BULK_LIMIT + 1])
    if len(records) > BULK_LIMIT:
        raise ApplicationError(_("Select at most %(n)s records at a time.") % {"n": BULK_LIMIT})
    if action not in BULK_ACTIONS:
        raise ApplicationError(_("Unknown bulk action."))
    for record in records:
        if action == "delete":
            delete(record, actor)
        elif action == "assign":
            update(record, actor, assigned_to=assigned_to)
        elif action == "tag":
            current = {t.pk for t in record.tags.all()}
            wanted = current | {t.pk for t in tags}
            if wanted != current:
                update(record, actor, tags=sorted(wanted, key=str))
        elif action == "stage":
            update(record, actor, lifecycle_stage=stage)
    return len(records)


@transaction.atomic
def contact_bulk_action(*, contacts, actor, action: str, **params) -> int:
    """Delete, assign, tag or change the stage of several contacts, all or nothing."""
    return _bulk(
        contacts,
        actor=actor,
        action=action,
        update=lambda c, a, **f: contact_update(contact=c, actor=a, **f),
        delete=lambda c, a: contact_delete(contact=c, actor=a),
        **params,
    )


@transaction.atomic
def company_bulk_action(*, companies, actor, action: str, **params) -> int:
    """Delete, assign or tag several companies, all or nothing."""
    if action == "stage":
        raise ApplicationError(_("Companies have no lifecycle stage."))
    return _bulk(
        companies,
        actor=actor,
        action=action,
        update=lambda c, a, **f: company_update(company=c, actor=a, **f),
        delete=lambda c, a: company_delete(company=c, actor=a),
        **params,
    )

"""Lead conversion: a lead becomes a contact and a company (deduplicated), in one
transaction, audited, and the lead is kept and linked to what it became.

``conversion_proposal`` is what the convert page and ``lead_convert`` start from: the
contact and company the lead would become and the existing records that look like them.
With ``create_opportunity`` the same transaction also opens an opportunity in a chosen
pipeline and stage (value, currency, close date, owner, tags and source from the lead),
linked to the lead, the contact and the company, stored in ``converted_opportunity``;
the contact then moves to the "opportunity" lifecycle stage (``_lifecycle_target``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from pulse.contacts.models import Company, Contact, LifecycleStage, SizeBand
from pulse.core.errors import ApplicationError
from pulse.core.services import record_update

from .models import Lead, LeadStage, LeadStageChange, StageKind

# Lead sources as a contact's lead source (the contact's list is shorter).
_CONTACT_SOURCES = {
    "web_form": "web",
    "import": "import",
    "api": "api",
    "manual": "manual",
    "referral": "referral",
    "campaign": "campaign",
    "social": "social",
    "event": "event",
}
# Lifecycle stages a converted lead's contact moves on from.
_EARLIER_STAGES = frozenset(
    {"", LifecycleStage.SUBSCRIBER, LifecycleStage.LEAD, LifecycleStage.MARKETING_QUALIFIED}
)
# A duplicate this sure is reused without asking (same email, same phone, same company
# name or website domain); weaker look-alikes are only shown on the convert page.
REUSE_CONFIDENCE = 85

CONTACT_FIELDS = frozenset(
    {"first_name", "last_name", "email", "phone", "mobile", "title", "department", "website"}
    | {"country", "lead_source"}
)
COMPANY_FIELDS = frozenset(
    {"name", "website", "domain", "industry", "size_band", "phone", "country", "territory"}
)


@dataclass
class ConversionProposal:
    """What converting would make, and the look-alikes found (most likely first)."""

    contact_fields: dict[str, Any]
    company_fields: dict[str, Any]
    contact_matches: list = field(default_factory=list)
    company_matches: list = field(default_factory=list)
    # The lead's own contact, when it is already linked to one (reused by default).
    linked_contact: Contact | None = None

    @property
    def suggested_contact(self) -> Contact | None:
        if self.linked_contact is not None:
            return self.linked_contact
        top = self.contact_matches[0] if self.contact_matches else None
        return top.record if top is not None and top.confidence >= REUSE_CONFIDENCE else None

    @property
    def suggested_company(self) -> Company | None:
        contact = self.suggested_contact
        if contact is not None and contact.company_id and not self.company_fields.get("name"):
            return contact.company
        top = self.company_matches[0] if self.company_matches else None
        return top.record if top is not None and top.confidence >= REUSE_CONFIDENCE else None


@dataclass
class ConversionResult:
    """What a conversion made or reused, and the opportunity it opened (if asked)."""

    lead: Lead
    contact: Contact
    company: Company | None
    contact_created: bool
    company_created: bool
    opportunity: Any = None


def _proposed_contact_fields(lead: Lead) -> dict[str, Any]:
    fields = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": lead.phone,
        "title": lead.job_title,
        "country": lead.country,
        "lead_source": _CONTACT_SOURCES.get(lead.source, "other"),
    }
    if not (lead.first_name or lead.last_name or lead.email):
        fields["last_name"] = lead.title[:100]  # a contact needs a name; the lead has one
    return fields


def _proposed_company_fields(lead: Lead) -> dict[str, Any]:
    from pulse.contacts.dedupe import FREE_MAIL_DOMAINS
    from pulse.contacts.models import email_domain

    if not lead.company_name.strip():
        return {}
    fields = {
        "name": lead.company_name.strip(),
        "website": lead.website,
        "industry": lead.industry,
        "country": lead.country,
    }
    if lead.company_size in SizeBand.values:
        fields["size_band"] = lead.company_size
    if not lead.website:
        domain = email_domain(lead.email)
        if domain and domain not in FREE_MAIL_DOMAINS:
            fields["domain"] = domain
    return fields


def conversion_proposal(*, lead: Lead, user) -> ConversionProposal:
    """The contact and company ``lead`` would become, with look-alikes ``user`` may see."""
    from pulse.contacts.dedupe import company_duplicates, contact_duplicates

    org = lead.organization
    contact_fields = _proposed_contact_fields(lead)
    company_fields = _proposed_company_fields(lead)
    company_matches = (
        company_duplicates(org=org, user=user, fields=company_fields) if company_fields else []
    )
    # A same-name match at the likely company counts too (dedupe's name+company rule).
    probe = dict(contact_fields)
    if company_matches and company_matches[0].confidence >= REUSE_CONFIDENCE:
        probe["company"] = company_matches[0].record.pk
    contact_matches = contact_duplicates(org=org, user=user, fields=probe)
    linked = lead.contact if lead.contact_id and not lead.contact.is_deleted else None
    return ConversionProposal(
        contact_fields=contact_fields,
        company_fields=company_fields,
        contact_matches=contact_matches,
        company_matches=company_matches,
        linked_contact=linked,
    )


def _lifecycle_target(*, with_opportunity: bool = False) -> str:
    """A converted lead's contact is sales-qualified (an opportunity, once conversion
    creates one); a contact already further along keeps its stage."""
    return LifecycleStage.OPPORTUNITY if with_opportunity else LifecycleStage.SALES_QUALIFIED


# With an opportunity, a sales-qualified contact moves on to "opportunity" too.
_EARLIER_WITH_OPPORTUNITY = _EARLIER_STAGES | {LifecycleStage.SALES_QUALIFIED}


def _opportunity_target(org, *, pipeline, stage):
    """The pipeline and open stage a converted lead's opportunity starts in, checked
    before anything is written: of this organization, live, the stage in the pipeline."""
    from pulse.opportunities.models import StageType
    from pulse.opportunities.services import default_pipeline, first_open_stage

    for name, record, label in (
        ("pipeline", pipeline, _("pipeline")),
        ("stage", stage, _("stage")),
    ):
        if record is not None and (record.organization_id != org.pk or record.is_deleted):
            raise ApplicationError(
                errors={name: [_("Choose a live %(what)s of this organization.") % {"what": label}]}
            )
    if pipeline is not None and stage is not None and stage.pipeline_id != pipeline.pk:
        raise ApplicationError(errors={"stage": [_("This stage belongs to another pipeline.")]})
    if stage is not None and stage.type != StageType.OPEN:
        raise ApplicationError(
            errors={"stage": [_("A new opportunity starts in an open stage, not won or lost.")]}
        )
    pipeline = pipeline or (stage.pipeline if stage is not None else default_pipeline(org))
    return pipeline, stage or first_open_stage(pipeline)


# Errors of ``opportunity_create`` under the names ``lead_convert`` takes.
_OPPORTUNITY_ERROR_KEYS = {"name": "opportunity_name"}


def _create_opportunity(
    locked: Lead,
    *,
    actor,
    owner,
    contact,
    company,
    pipeline,
    stage,
    name: str,
    value,
    expected_close_date,
):
    from pulse.opportunities.services import opportunity_create

    fields: dict[str, Any] = {
        "name": (name or "").strip() or locked.title,
        "description": locked.description,
        "lead": locked,
        "contact": contact,
        "company": company,
        "pipeline": pipeline,
        "stage": stage,
        "value": value if value is not None else (locked.value or 0),
        "expected_close_date": expected_close_date or locked.expected_close_date,
        "assigned_to": owner,
        "source": locked.source,
        "tags": list(locked.tags.all()),
    }
    if locked.currency:
        fields["currency"] = locked.currency
    try:
        return opportunity_create(org=locked.organization, actor=actor, **fields)
    except ApplicationError as exc:
        raise ApplicationError(
            exc.message,
            errors={_OPPORTUNITY_ERROR_KEYS.get(k, k): v for k, v in exc.errors.items()},
        ) from exc


def _checked_overrides(values, allowed: frozenset, name: str) -> dict:
    if values in (None, ""):
        return {}
    if not isinstance(values, dict):
        raise ApplicationError(errors={name: [_("Send an object of field values.")]})
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ApplicationError(
            errors={name: [_("Unknown fields: %(names)s.") % {"names": ", ".join(unknown)}]}
        )
    return {k: ("" if v is None else v) for k, v in values.items()}


def _owner_for(lead: Lead, actor):
    """New records belong to the lead's owner while they are a member; else the actor."""
    from pulse.accounts.models import Membership

    owner = lead.assigned_to
    if owner is not None and (
        Membership.objects.unscoped()
        .filter(organization=lead.organization, user=owner, deleted_at__isnull=True)
        .exists()
    ):
        return owner
    return actor


def _same_org(record, lead: Lead, name: str, label: str):
    if record is None:
        return None
    if record.organization_id != lead.organization_id or record.is_deleted:
        raise ApplicationError(
            errors={name: [_("Choose a live %(what)s of this organization.") % {"what": label}]}
        )
    return record


def _converted_stage(org) -> LeadStage | None:
    return (
        LeadStage.objects.unscoped()
        .filter(organization=org, kind=StageKind.CONVERTED, deleted_at__isnull=True)
        .order_by("position", "name")
        .first()
    )


def already_converted_message(lead: Lead) -> str:
    when = formats.date_format(timezone.localtime(lead.converted_at), "SHORT_DATETIME_FORMAT")
    if lead.converted_by is not None:
        return _("This lead was already converted on %(when)s by %(who)s.") % {
            "when": when,
            "who": lead.converted_by,
        }
    return _("This lead was already converted on %(when)s.") % {"when": when}


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    actor,
    contact: Contact | None = None,
    company: Company | None = None,
    create_contact: bool = True,
    create_company: bool = True,
    contact_fields: dict | None = None,
    company_fields: dict | None = None,
    match_existing: bool = True,
    create_opportunity: bool = False,
    pipeline=None,
    stage=None,
    opportunity_name: str = "",
    value=None,
    expected_close_date=None,
) -> ConversionResult:
    """Convert ``lead`` into a contact and (optionally) a company, in one transaction.

    ``contact``/``company``: existing records to use. Otherwise, with ``match_existing``
    the lead's own contact, then a sure duplicate (same email or phone; same company
    name or domain) is reused, and only then is a new record made (from the lead's
    fields, ``contact_fields``/``company_fields`` overriding them) — unless
    ``create_contact``/``create_company`` say not to. ``match_existing=False`` is the
    user choosing "create new" on the convert page. A contact is required; a company is
    not (a lead with no company name and none chosen converts without one).

    ``create_opportunity`` also opens an opportunity (``opportunity_create``) in
    ``pipeline``/``stage`` (default: the default pipeline's first open stage) named
    ``opportunity_name`` (default: the lead's title), worth ``value`` (default: the
    lead's value, in the lead's currency), closing ``expected_close_date`` (default: the
    lead's), owned by the records' owner, with the lead's tags and source. A bad
    pipeline, stage or value refuses the whole conversion: nothing is created.

    The lead is locked first, so of two simultaneous conversions exactly one succeeds;
    the other, like any conversion of a converted lead, is refused and changes nothing.
    The lead keeps its row, moves to the organization's converted stage, and records
    who converted it, when, and into what (one audit entry on the lead; the new
    contact/company are audited as creates).
    """
    from pulse.contacts.services import company_create, contact_create, contact_update

    locked = Lead.objects.unscoped().select_for_update().select_related("stage").get(pk=lead.pk)
    if locked.is_converted:
        raise ApplicationError(already_converted_message(locked))
    if locked.is_deleted:
        raise ApplicationError(_("This record is in the trash; restore it first."))
    org = locked.organization
    contact_overrides = _checked_overrides(contact_fields, CONTACT_FIELDS, "contact_fields")
    company_overrides = _checked_overrides(company_fields, COMPANY_FIELDS, "company_fields")
    contact = _same_org(contact, locked, "contact", _("contact"))
    company = _same_org(company, locked, "company", _("company"))
    if create_opportunity:
        pipeline, stage = _opportunity_target(org, pipeline=pipeline, stage=stage)
    proposal = conversion_proposal(lead=locked, user=actor) if match_existing else None
    owner = _owner_for(locked, actor)
    lifecycle = _lifecycle_target(with_opportunity=create_opportunity)
    earlier = _EARLIER_WITH_OPPORTUNITY if create_opportunity else _EARLIER_STAGES

    company_created = False
    if company is None and match_existing and not company_overrides:
        if contact is not None and contact.company_id:
            company = contact.company
        else:
            company = proposal.suggested_company
    if company is None and create_company:
        values = {**_proposed_company_fields(locked), **company_overrides}
        if company_overrides.get("website") and "domain" not in company_overrides:
            values.pop("domain", None)  # the domain follows the website typed
        if values.get("name"):
            company = company_create(org=org, actor=actor, assigned_to=owner, **values)
            company_created = True

    contact_created = False
    if contact is None and match_existing and not contact_overrides:
        contact = proposal.suggested_contact
    if contact is None:
        if not create_contact:
            raise ApplicationError(
                errors={"contact": [_("Choose an existing contact or let conversion create one.")]}
            )
        values = {**_proposed_contact_fields(locked), **contact_overrides}
        if company is not None:
            values["company"] = company
        values["lifecycle_stage"] = lifecycle
        contact = contact_create(org=org, actor=actor, assigned_to=owner, **values)
        contact_created = True
    else:
        changes: dict[str, Any] = {}
        if contact.lifecycle_stage in earlier:
            changes["lifecycle_stage"] = lifecycle
        if company is not None and not contact.company_id:
            changes["company"] = company
        if changes:
            contact = contact_update(contact=contact, actor=actor, **changes)

    opportunity = None
    if create_opportunity:
        opportunity = _create_opportunity(
            locked,
            actor=actor,
            owner=owner,
            contact=contact,
            company=company,
            pipeline=pipeline,
            stage=stage,
            name=opportunity_name,
            value=value,
            expected_close_date=expected_close_date,
        )

    now = timezone.now()
    changes = {
        "converted_at": now,
        "converted_by": actor,
        "converted_contact": contact,
        "converted_company": company,
        "converted_opportunity": opportunity,
    }
    if not locked.contact_id:
        changes["contact"] = contact
    stage = _converted_stage(org)
    from_stage = locked.stage
    if stage is not None and stage.pk != locked.stage_id:
        changes.update(stage=stage, stage_changed_at=now)
    # One update, so the lead's audit entry shows the whole conversion at once.
    locked = record_update(locked, actor=actor, **changes)
    if "stage" in changes:
        LeadStageChange.objects.create(
            organization=org,
            lead=locked,
            from_stage=from_stage,
            to_stage=stage,
            notes=_("Converted"),
            changed_by=actor,
        )
    return ConversionResult(
        lead=locked,
        contact=contact,
        company=company,
        contact_created=contact_created,
        company_created=company_created,
        opportunity=opportunity,
    )

"""The ``leads`` import target: leads from a CSV/XLSX file through the contacts import
engine (``pulse.imports.engine``), with the column names HubSpot, Salesforce, Pipedrive
and Zoho lead exports use.

The engine writes every batch in one transaction with bulk inserts, its own change-log
entries and ``ImportRecord`` rows (so the whole import can be undone as one unit). A
lead created here gets what ``services.lead_create`` gives one (same rules, done per
batch instead of per row, in ``LeadRun.before_write``):

* the first open stage unless the row names one (by key, by name, or by a status other
  CRMs export, e.g. Salesforce's "Open - Not Contacted"); an unknown stage, or an
  unqualified-type stage without a reason, is a row error;
* ``source="import"`` unless a source column is mapped; the organization's currency
  when a value comes without one;
* the contact with the same email attached; its first stage-history row;
* the owner from the file, else the assignment rules (``routing.route_decision``),
  else nobody, exactly as ``lead_create`` routes;
* scored after the batch commits (``scoring.lead_rescore_later``).

Duplicates: "skip" skips a row whose email is a live lead's (or an earlier row's);
"update" matches by email or by a custom field holding another system's id.
"""

from __future__ import annotations

import decimal
import re
import uuid
from typing import Any

from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.imports.crm_targets import (
    CUSTOM_PREFIX,
    OTHER,
    PERSON,
    SALES,
    WORK,
    BaseRun,
    Ref,
    _custom_target_fields,
    _external_options,
    _owner_field,
    _split_name,
    _tag_names,
    _tags_field,
    _url,
)
from pulse.imports.targets import (
    Decision,
    ImportTarget,
    Prepared,
    RowInvalid,
    TargetField,
    register_target,
)
from pulse.imports.values import CellError, fold_key, parse_country, parse_date, parse_decimal

from .models import Lead, LeadSource, LeadStage, LeadStageChange, StageKind

MARKETING = gettext_lazy("Marketing")
TEXT_FIELDS = frozenset(
    {
        "title",
        "first_name",
        "last_name",
        "company_name",
        "job_title",
        "industry",
        "company_size",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "unqualified_reason",
    }
)

# "Title" in Salesforce and Zoho lead exports is the job title: job_title comes first so
# the guess gives it that column (a field listed earlier wins a shared name).
LEAD_FIELDS = [
    TargetField(
        "first_name",
        gettext_lazy("First name"),
        ("First Name", "Firstname", "Given Name", "Person - First name"),
        group=PERSON,
    ),
    TargetField(
        "last_name",
        gettext_lazy("Last name"),
        ("Last Name", "Lastname", "Surname", "Family Name", "Person - Last name"),
        group=PERSON,
    ),
    TargetField(
        "full_name",
        gettext_lazy("Full name (split into first and last)"),
        ("Name", "Full Name", "Contact Name", "Person - Name", "Person Name", "Contact"),
        group=PERSON,
    ),
    TargetField(
        "email",
        gettext_lazy("Email"),
        (
            "Email",
            "E-mail",
            "Email Address",
            "Primary Email",
            "Work Email",
            "Person - Email",
            "Person - Email - Work",
            "Lead Email",
        ),
        group=PERSON,
    ),
    TargetField(
        "phone",
        gettext_lazy("Phone"),
        (
            "Phone",
            "Phone Number",
            "Mobile",
            "Mobile Phone",
            "Mobile Phone Number",
            "Work Phone",
            "Person - Phone",
            "Person - Phone - Work",
            "Person - Phone - Mobile",
        ),
        group=PERSON,
    ),
    TargetField(
        "company_name",
        gettext_lazy("Company name"),
        (
            "Company",
            "Company Name",
            "Organization",
            "Organisation",
            "Organization Name",
            "Organization - Name",
            "Account Name",
            "Account",
        ),
        group=WORK,
    ),
    TargetField(
        "website",
        gettext_lazy("Website"),
        ("Website", "Website URL", "Web Site", "URL", "Homepage", "Company Domain Name"),
        group=WORK,
    ),
    TargetField(
        "job_title",
        gettext_lazy("Job title"),
        ("Job Title", "Title", "Position", "Designation", "Role"),
        group=WORK,
    ),
    TargetField(
        "title",
        gettext_lazy("Lead title"),
        ("Lead Title", "Lead Name", "Lead - Title", "Topic", "Subject", "Lead", "Deal Title"),
        group=SALES,
    ),
    TargetField("industry", gettext_lazy("Industry"), ("Industry", "Sector"), group=WORK),
    TargetField(
        "company_size",
        gettext_lazy("Company size"),
        (
            "Company Size",
            "No. of Employees",
            "Number of Employees",
            "Employees",
            "Headcount",
            "Organization - Number of employees",
        ),
        group=WORK,
    ),
    TargetField(
        "country",
        gettext_lazy("Country"),
        ("Country", "Country/Region", "Country Code", "Person - Country", "Billing Country"),
        group=WORK,
    ),
    TargetField(
        "source",
        gettext_lazy("Lead source"),
        ("Lead Source", "Source", "Lead - Source", "Original Source", "Original Source Type"),
        group=MARKETING,
    ),
    TargetField(
        "utm_source",
        gettext_lazy("UTM source"),
        ("UTM Source", "utm_source", "Campaign Source"),
        group=MARKETING,
    ),
    TargetField(
        "utm_medium",
        gettext_lazy("UTM medium"),
        ("UTM Medium", "utm_medium", "Campaign Medium"),
        group=MARKETING,
    ),
    TargetField(
        "utm_campaign",
        gettext_lazy("UTM campaign"),
        ("UTM Campaign", "utm_campaign", "Campaign", "Campaign Name", "Original Campaign"),
        group=MARKETING,
    ),
    TargetField(
        "stage",
        gettext_lazy("Stage (key or name)"),
        ("Lead Status", "Status", "Stage", "Lead Stage", "Lead - Status", "Lead Status Name"),
        group=SALES,
    ),
    TargetField(
        "unqualified_reason",
        gettext_lazy("Unqualified reason"),
        (
            "Unqualified Reason",
            "Disqualified Reason",
            "Disqualification Reason",
            "Lost Reason",
            "Reason",
        ),
        group=SALES,
    ),
    TargetField(
        "value",
        gettext_lazy("Value"),
        ("Value", "Lead Value", "Lead - Value", "Amount", "Deal Value", "Expected Revenue"),
        group=SALES,
    ),
    TargetField(
        "currency",
        gettext_lazy("Currency"),
        ("Currency", "Currency Code", "Lead - Value currency", "Value Currency"),
        group=SALES,
    ),
    TargetField(
        "expected_close_date",
        gettext_lazy("Expected close date"),
        ("Expected Close Date", "Close Date", "Expected close date", "Lead - Expected close date"),
        group=SALES,
    ),
    TargetField(
        "annual_revenue",
        gettext_lazy("Company's annual revenue (added to the description)"),
        ("Annual Revenue", "Revenue", "Company Revenue", "Annual Turnover"),
        group=WORK,
    ),
    _owner_field("Lead Owner", "Lead Owner Email", "Lead - Owner", "Lead Owner Name"),
    TargetField(
        "description",
        gettext_lazy("Description"),
        ("Description", "Notes", "Note", "Comments", "Lead Description", "Message"),
        multiple=True,
        group=OTHER,
    ),
    _tags_field("Lead Tags", "Lead - Labels", "Lead Labels"),
]

# Statuses other CRMs export, to the default stage keys (used only when the organization
# still has a stage with that key; its own keys and names always win).
STAGE_ALIASES = {
    # Salesforce
    "opennotcontacted": "new",
    "workingcontacted": "contacted",
    "closedconverted": "converted",
    "closednotconverted": "unqualified",
    # HubSpot lead status
    "open": "new",
    "inprogress": "contacted",
    "attemptedtocontact": "contacted",
    "connected": "contacted",
    "opendeal": "qualified",
    "badtiming": "unqualified",
    # Zoho
    "notcontacted": "new",
    "contactinfuture": "contacted",
    "prequalified": "qualified",
    "notqualified": "unqualified",
    "junklead": "unqualified",
    "lostlead": "unqualified",
    # common words
    "qualifiedlead": "qualified",
    "disqualified": "unqualified",
    "lost": "unqualified",
    "won": "converted",
}

SOURCE_ALIASES = {
    "webform": LeadSource.WEB_FORM,
    "website": LeadSource.WEB_FORM,
    "web": LeadSource.WEB_FORM,
    "form": LeadSource.WEB_FORM,
    "organicsearch": LeadSource.WEB_FORM,
    "paidsearch": LeadSource.CAMPAIGN,
    "directtraffic": LeadSource.WEB_FORM,
    "emailmarketing": LeadSource.CAMPAIGN,
    "advertisement": LeadSource.CAMPAIGN,
    "paidads": LeadSource.CAMPAIGN,
    "referrals": LeadSource.REFERRAL,
    "partner": LeadSource.REFERRAL,
    "partnerreferral": LeadSource.REFERRAL,
    "employeereferral": LeadSource.REFERRAL,
    "externalreferral": LeadSource.REFERRAL,
    "wordofmouth": LeadSource.REFERRAL,
    "socialmedia": LeadSource.SOCIAL,
    "organicsocial": LeadSource.SOCIAL,
    "paidsocial": LeadSource.SOCIAL,
    "linkedin": LeadSource.SOCIAL,
    "facebook": LeadSource.SOCIAL,
    "twitter": LeadSource.SOCIAL,
    "tradeshow": LeadSource.EVENT,
    "conference": LeadSource.EVENT,
    "seminar": LeadSource.EVENT,
    "webinar": LeadSource.EVENT,
    "coldcall": LeadSource.MANUAL,
    "phoneinquiry": LeadSource.MANUAL,
    "offlinesources": LeadSource.IMPORT,
    "integration": LeadSource.API,
    "emails": LeadSource.EMAIL,
}

_CURRENCY = re.compile(r"^\s*([A-Za-z]{3})\s*|\s*([A-Za-z]{3})\s*$")
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}


def parse_money(text: str) -> tuple[decimal.Decimal, str]:
    """A lead's value cell: ``"5000"``, ``"EUR 5,000.50"``, ``"1.200,50 €"``, ``"2.5K"``
    → (amount, ISO currency or ""). Negative amounts are refused."""
    text = text.strip()
    currency = ""
    match = _CURRENCY.search(text)
    if match:
        code = (match.group(1) or match.group(2)).upper()
        if code not in ("K", "M", "B"):
            currency = code
            text = (text[: match.start()] + text[match.end() :]).strip()
    for symbol, code in _SYMBOLS.items():
        if symbol in text:
            currency = currency or code
            text = text.replace(symbol, "").strip()
    if not text:
        raise CellError(_("Enter a number."))
    amount = parse_decimal(text, max_digits=14)
    if amount < 0:
        raise CellError(_("A lead's value cannot be negative."))
    return amount, currency


def parse_currency(text: str) -> str:
    """An ISO 4217 code (``eur`` → ``EUR``, ``€`` → ``EUR``)."""
    text = text.strip()
    if text in _SYMBOLS:
        return _SYMBOLS[text]
    if re.fullmatch(r"[A-Za-z]{3}", text):
        return text.upper()
    raise CellError(_("Enter a three-letter currency code such as EUR or USD."))


def stage_table(stages) -> dict[str, LeadStage]:
    """Folded key, name and known aliases → the organization's live stage."""
    table: dict[str, LeadStage] = {}
    by_key = {s.key: s for s in stages}
    for alias, key in STAGE_ALIASES.items():
        if key in by_key:
            table[alias] = by_key[key]
    for stage in stages:  # the organization's own names and keys win over aliases
        table[fold_key(stage.name)] = stage
        table[fold_key(stage.key)] = stage
    return table


def find_stage(table: dict[str, LeadStage], text: str) -> LeadStage:
    """The stage a cell names; an unknown one is a cell error listing the known keys."""
    stage = table.get(fold_key(text))
    if stage is None:
        known = sorted({s.key for s in table.values()})
        raise CellError(
            _("No stage is called “%(name)s”. Known: %(known)s.")
            % {"name": text.strip()[:60], "known": ", ".join(known)}
        )
    return stage


def lead_title(fields: dict) -> str:
    """A title for a row that has none: the person, then the company, then the email."""
    name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
    company = fields.get("company_name") or ""
    if name and company:
        return f"{name} ({company})"[:200]
    return (name or company or fields.get("email") or "")[:200]


class LeadRun(BaseRun):
    """Builds lead rows, finds duplicates by email (or an external id) in memory, and
    gives new leads what ``lead_create`` would before the engine writes them."""

    model = Lead

    def __init__(self, *, job, actor):
        from .models import AssignmentRule
        from .services import leadstage_ensure_defaults

        super().__init__(job=job, actor=actor)
        stages = leadstage_ensure_defaults(org=self.org, actor=actor)
        self.stages = stage_table(stages)
        self.first_stage = next((s for s in stages if s.kind == StageKind.OPEN), stages[0])
        self.stages_by_pk = {s.pk: s for s in stages}
        self.emails: dict[str, Ref] = {}
        self.external: dict[str, Ref] = {}
        self.creating: set[Any] = set()
        self.match_key = job.match_by if job.match_by.startswith(CUSTOM_PREFIX) else ""
        self.loaded = False
        self.routing = (
            AssignmentRule.objects.unscoped()
            .filter(organization=self.org, deleted_at__isnull=True, active=True)
            .exists()
        )

    def _load(self) -> None:
        """The duplicate index, on the first row decided (a preview never needs it)."""
        if self.loaded:
            return
        self.loaded = True
        if self.job.mode == "create":
            return
        leads = Lead.objects.restrict(self.actor, "view").annotate(_email=Lower("email"))
        columns = ["pk", "_email"]
        if self.match_key:
            leads = leads.annotate(
                _ext=KeyTextTransform(self.match_key[len(CUSTOM_PREFIX) :], "custom_fields")
            )
            columns.append("_ext")
        for values in leads.values_list(*columns).iterator(5000):
            ref = Ref(values[0])
            if values[1]:
                self.emails.setdefault(values[1], ref)
            if self.match_key and values[2]:
                self.external.setdefault(values[2], ref)

    # -- building --

    def build(self, values: dict[str, list[str]], line: int, cells: list[str]) -> Prepared:
        fields: dict[str, Any] = {}
        errors: dict[str, str] = {}
        tags: list[str] = []
        revenue = ""
        for key, texts in values.items():
            text = texts[0]
            try:
                if key in TEXT_FIELDS:
                    fields[key] = text.strip()
                elif key == "full_name":
                    first, last = _split_name(text)
                    fields.setdefault("first_name", first)
                    fields.setdefault("last_name", last)
                elif key == "email":
                    fields["email"] = text.strip()
                elif key == "phone":
                    fields["phone"] = self.phone(text)
                elif key == "website":
                    fields["website"] = _url(text)
                elif key == "country":
                    fields["country"] = parse_country(text)
                elif key == "source":
                    fields["source"] = SOURCE_ALIASES.get(
                        fold_key(text), _choice(LeadSource, text, LeadSource.OTHER)
                    )
                elif key == "stage":
                    fields["stage_id"] = find_stage(self.stages, text).pk
                elif key == "value":
                    fields["value"], found = parse_money(text)
                    if found:
                        fields.setdefault("currency", found)
                elif key == "currency":
                    fields["currency"] = parse_currency(text)
                elif key == "expected_close_date":
                    fields["expected_close_date"] = parse_date(text, day_first=self.day_first)
                elif key == "annual_revenue":
                    revenue = text.strip()
                elif key == "description":
                    fields["description"] = "\n\n".join(texts)
                elif key == "tags":
                    tags = _tag_names(texts)
                elif key == "assigned_to":
                    fields["assigned_to_id"] = self.owner(text)
            except CellError as exc:
                errors[key] = str(exc)
        if revenue:
            line_text = _("Annual revenue: %(value)s") % {"value": revenue}
            fields["description"] = "\n\n".join(
                p for p in (fields.get("description"), line_text) if p
            )
        if fields.get("value") is not None and not fields.get("currency"):
            fields["currency"] = self.org.default_currency
        creating = self.job.mode != "update" or not self._may_match(fields, values)
        if creating:
            self._new_lead_defaults(fields, errors)
        custom = self.custom_fields(values, errors, creating=creating)
        if custom:
            fields["custom_fields"] = custom
        names = {"first_name": "first_name", "last_name": "last_name"}
        if "full_name" in values:
            names = {"first_name": "full_name", "last_name": "full_name"}
        self.validate(fields, errors, names)
        if errors:
            raise RowInvalid(errors)
        return Prepared(line=line, cells=cells, fields=fields, tags=tags)

    def _new_lead_defaults(self, fields: dict, errors: dict) -> None:
        """What ``lead_create`` sets on a new lead (the title is derived when missing)."""
        if not fields.get("title"):
            fields["title"] = lead_title(fields)
        fields.setdefault("source", LeadSource.IMPORT)
        fields.setdefault("stage_id", self.first_stage.pk)
        stage = self.stages_by_pk.get(fields["stage_id"])
        if stage is not None and stage.requires_reason and not fields.get("unqualified_reason"):
            errors.setdefault(
                "stage",
                _("Say why this lead is %(stage)s: map a reason column.") % {"stage": stage.name},
            )
        fields["stage_changed_at"] = timezone.now()
        if "assigned_to_id" in fields:
            fields["assigned_at"] = timezone.now()
        else:
            # Not the importer (the engine's default): the assignment rules decide below.
            fields["assigned_to_id"] = None

    def _may_match(self, fields: dict, values: dict) -> bool:
        if self.job.mode != "update":
            return False
        return bool(fields.get("email")) if not self.match_key else self.match_key in values

    def check(self, row: Prepared) -> str:
        if not row.fields.get("title"):
            return _("Give the lead a title, a name, a company or an email address.")
        return ""

    def describe(self, values: dict) -> str:
        return values.get("title") or ""

    # -- duplicates --

    def decide(self, row: Prepared, *, mode: str, match_by: str) -> Decision:
        self._load()
        fields = row.fields
        email = (fields.get("email") or "").lower()
        ref = None
        if mode == "update":
            if self.match_key:
                value = (fields.get("custom_fields") or {}).get(self.match_key[3:])
                ref = self.external.get(str(value)) if value not in (None, "") else None
            elif email:
                ref = self.emails.get(email)
            if ref is not None:
                if ref.line:
                    return Decision(
                        "skip",
                        reason=_("Same lead as line %(line)d of this file.") % {"line": ref.line},
                    )
                return Decision("update", pk=ref.pk)
        elif mode == "skip" and email and email in self.emails:
            ref = self.emails[email]
            where = (
                _("line %(line)d of this file") % {"line": ref.line}
                if ref.line
                else _("an existing lead")
            )
            return Decision(
                "skip", pk=ref.pk, reason=_("Same email (%(where)s)") % {"where": where}
            )
        errors: dict[str, str] = {}
        self._new_lead_defaults(fields, errors)  # again for an update row that matched nothing
        if not fields.get("title"):
            return Decision(
                "fail", reason=_("Give the lead a title, a name, a company or an email address.")
            )
        if errors:
            return Decision("fail", reason="; ".join(errors.values()))
        self.creating.add(row.line)
        return Decision("create")

    def remember(self, row: Prepared) -> None:
        self._load()
        ref = Ref(row.pk, row.line)
        email = (row.fields.get("email") or "").lower()
        if email:
            self.emails[email] = ref
        if self.match_key:
            value = (row.fields.get("custom_fields") or {}).get(self.match_key[3:])
            if value not in (None, ""):
                self.external[str(value)] = ref

    # -- what lead_create does, for a batch --

    def before_write(self, rows: list[Prepared], writer) -> None:
        from .routing import route_decision
        from .scoring import lead_rescore_later

        new = [row for row in rows if row.line in self.creating]
        self._attach_contacts(new)
        if self.routing:
            for row in new:
                if row.fields.get("assigned_to_id") is None:
                    decision = route_decision(Lead(organization=self.org, **row.fields))
                    if decision.user is not None:
                        row.fields["assigned_to_id"] = decision.user.pk
                        row.fields["assigned_at"] = timezone.now()
        # The first history row of each new lead; the lead row follows in this same
        # transaction (foreign keys are checked at commit).
        LeadStageChange.objects.bulk_create(
            [
                LeadStageChange(
                    id=uuid.uuid4(),
                    organization=self.org,
                    lead_id=row.pk,
                    from_stage=None,
                    to_stage_id=row.fields["stage_id"],
                    changed_by=self.actor,
                )
                for row in new
            ]
        )
        if rows:
            lead_rescore_later(org=self.org, lead_ids=[row.pk for row in rows])

    def _attach_contacts(self, rows: list[Prepared]) -> None:
        """Link each new lead to the oldest live contact with its email (one query)."""
        from pulse.contacts.models import Contact

        emails = {(r.fields.get("email") or "").lower() for r in rows} - {""}
        if not emails:
            return
        found: dict[str, Any] = {}
        contacts = (
            Contact.objects.unscoped()
            .filter(organization=self.org, deleted_at__isnull=True)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .order_by("-created_at")
            .values_list("email_lower", "pk")
        )
        for email, pk in contacts:
            found[email] = pk  # oldest last, so it wins
        for row in rows:
            pk = found.get((row.fields.get("email") or "").lower())
            if pk is not None:
                row.fields.setdefault("contact_id", pk)

    def update_fields(self, row: Prepared, instance) -> dict[str, Any]:
        changes = super().update_fields(row, instance)
        if instance.is_converted:
            raise RowInvalid({"title": _("This lead is converted; it is not updated.")})
        if changes.get("email", "").lower() == (instance.email or "").lower():
            changes.pop("email", None)  # matched by it: only the case differs
        if "custom_fields" in changes:
            changes["custom_fields"] = {
                **(instance.custom_fields or {}),
                **changes["custom_fields"],
            }
        stage_id = changes.get("stage_id")
        if stage_id is not None and stage_id != instance.stage_id:
            stage = self.stages_by_pk[stage_id]
            reason = changes.get("unqualified_reason") or instance.unqualified_reason
            if stage.requires_reason and not reason:
                raise RowInvalid(
                    {"stage": _("Say why this lead is %(stage)s.") % {"stage": stage.name}}
                )
            changes["stage_changed_at"] = timezone.now()
            LeadStageChange.objects.create(
                organization=self.org,
                lead=instance,
                from_stage_id=instance.stage_id,
                to_stage=stage,
                notes=_("Imported"),
                reason=(reason or "")[:300] if stage.requires_reason else "",
                changed_by=self.actor,
            )
        else:
            changes.pop("stage_id", None)
        return changes


def _choice(choices, text: str, default):
    folded = fold_key(text)
    for value, label in choices.choices:
        if folded in (fold_key(value), fold_key(str(label))):
            return value
    return default


class LeadTarget(ImportTarget):
    key = "leads"
    label = gettext_lazy("Leads")
    model = Lead
    icon = "bi-funnel"
    list_url_name = "leads:lead_list"

    def fields(self) -> list[TargetField]:
        return [*LEAD_FIELDS, *_custom_target_fields(Lead)]

    def match_options(self) -> list[tuple[str, str]]:
        return [("email", str(_("Email"))), *_external_options(Lead)]

    def required_hint(self) -> str:
        return _("Each lead needs a title, a name, a company or an email.")

    def start(self, *, job, actor) -> LeadRun:
        return LeadRun(job=job, actor=actor)


register_target(LeadTarget())

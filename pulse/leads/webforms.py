"""Web-to-lead forms: designing them, and what happens when the public posts one.

Services (rule 3): ``webform_create`` / ``webform_update`` / ``webform_delete`` for the
admin's designer; ``webform_submit`` and ``webform_confirm`` for the public endpoint
(``/f/<key>/``). A submission is always recorded as a ``WebFormSubmission`` (accepted,
pending confirmation, confirmed or spam); the lead itself is made by
``services.lead_create`` so that routing, scoring and the known-contact link apply
exactly as for any other lead.

Guards of the public endpoint, in the order they run:

1. the per-IP rate limit (``form_rate_limit_per_minute`` of the lead settings), a sliding
   60-second window over atomic counters in the shared cache per (form key, IP, minute):
   over it, nothing is stored;
2. the honeypot: a filled one is stored as spam, makes no lead, and the sender sees the
   normal thank-you (a bot learns nothing);
3. the form's own rules: required fields, the consent checkbox, each value validated by
   the lead's model field (so an email is an email, a country a country).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_ipv46_address
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pulse.core.errors import ApplicationError
from pulse.core.services import record_create, record_delete, record_update

from .models import EngagementKind, Lead, WebForm, WebFormSubmission

# Lead fields a form may ask for, in the designer's order (custom fields come after).
LEAD_FORM_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "website",
    "job_title",
    "industry",
    "company_size",
    "country",
    "title",
    "description",
    "value",
)
CUSTOM_PREFIX = "custom_fields."
# The trap field: hidden from people by CSS, tempting to bots by its name.
HONEYPOT_FIELD = "homepage"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
CONSENT_FIELD = "consent"
CONFIRM_DAYS = 7
# A public value longer than this is refused (a textarea is not a file upload).
MAX_VALUE_LENGTH = 5000
TRUE_VALUES = {"on", "true", "1", "yes", "y"}


class WebFormRateLimited(ApplicationError):
    """Too many posts from one address this minute (the view answers 429)."""


class WebFormClosed(ApplicationError):
    """The form is switched off (the view answers 410)."""


class WebFormTokenInvalid(ApplicationError):
    """A confirmation link that is unknown or expired (the view answers 404 / 410)."""

    def __init__(self, message: str = "", *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


# --- the fields a form may have ----------------------------------------------------------


# Custom field types the public can fill in (not a colleague, not a list of choices).
PUBLIC_CUSTOM_TYPES = {
    "text",
    "long_text",
    "number",
    "decimal",
    "date",
    "boolean",
    "choice",
    "url",
    "email",
}


def _custom_definitions() -> dict:
    from pulse.extras.customfields import definitions_for

    return {d.key: d for d in definitions_for(Lead) if d.field_type in PUBLIC_CUSTOM_TYPES}


def field_choices() -> list[tuple[str, str]]:
    """(name, default label) of every field a form of the current organization may ask."""
    choices = [
        (name, str(Lead._meta.get_field(name).verbose_name).capitalize())
        for name in LEAD_FORM_FIELDS
    ]
    choices += [(CUSTOM_PREFIX + key, d.label) for key, d in _custom_definitions().items()]
    return choices


_INPUTS = {
    "email": "email",
    "phone": "tel",
    "website": "url",
    "value": "number",
    "description": "textarea",
    "country": "select",
}
_CUSTOM_INPUTS = {
    "long_text": "textarea",
    "number": "number",
    "decimal": "number",
    "date": "date",
    "boolean": "checkbox",
    "choice": "select",
    "url": "url",
    "email": "email",
}


def public_fields(form: WebForm) -> list[dict]:
    """The form's fields as the public page and the embed snippet draw them:
    name, label, required, input type and (for selects) options."""
    from pulse.core.countries import COUNTRY_CHOICES

    custom = None
    shown = []
    for item in form.fields or []:
        name = item["name"]
        row = {**item, "input": _INPUTS.get(name, "text"), "options": []}
        if name == "country":
            row["options"] = [(code, str(label)) for code, label in COUNTRY_CHOICES if code]
        elif name.startswith(CUSTOM_PREFIX):
            if custom is None:
                custom = _custom_definitions()
            definition = custom.get(name[len(CUSTOM_PREFIX) :])
            if definition is None:  # deleted since: the form simply no longer asks
                continue
            row["input"] = _CUSTOM_INPUTS.get(definition.field_type, "text")
            row["options"] = [(str(c), str(c)) for c in definition.choices or []]
        shown.append(row)
    return shown


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in TRUE_VALUES


def _clean_field_list(raw: Any, *, double_opt_in: bool) -> list[dict]:
    """The designer's field list, normalised; every problem as a ``fields`` error."""
    if not isinstance(raw, list):
        raise ApplicationError(errors={"fields": [_("Send a list of fields.")]})
    allowed = {name for name, _label in field_choices()}
    errors: list[str] = []
    cleaned: list[dict] = []
    seen: set[str] = set()
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            errors.append(
                _("Field %(n)s: send an object with name, label and required.") % {"n": position}
            )
            continue
        name = str(item.get("name") or "").strip()
        label = str(item.get("label") or "").strip()
        if name not in allowed:
            errors.append(
                _("Field %(n)s: “%(name)s” is not a lead field a form can ask for.")
                % {"n": position, "name": name[:60]}
            )
            continue
        if name in seen:
            errors.append(
                _("Field %(n)s: “%(name)s” is on the form twice.") % {"n": position, "name": name}
            )
            continue
        if not label:
            errors.append(_("Field %(n)s: give it a label.") % {"n": position})
            continue
        if len(label) > 200:
            errors.append(_("Field %(n)s: keep the label under 200 characters.") % {"n": position})
            continue
        seen.add(name)
        cleaned.append({"name": name, "label": label, "required": _truthy(item.get("required"))})
    if not cleaned and not errors:
        errors.append(_("Add at least one field."))
    if double_opt_in and "email" not in seen and not errors:
        errors.append(_("A form confirmed by email needs an email field."))
    if errors:
        raise ApplicationError(errors={"fields": errors})
    if double_opt_in:
        # The confirmation goes to this address: without it the lead can never be made.
        for item in cleaned:
            if item["name"] == "email":
                item["required"] = True
    return cleaned


def _check_owner(org, user) -> None:
    if user is None:
        return
    from pulse.accounts.selectors import organization_members

    if not organization_members(org).filter(pk=user.pk).exists():
        raise ApplicationError(
            errors={"default_assigned_to": [_("Choose a member of this organization.")]}
        )


# --- designing -----------------------------------------------------------------------------


@transaction.atomic
def webform_create(*, org, actor, **fields) -> WebForm:
    """Create a web form; the field list is checked (allowed lead fields, labels, no
    duplicates, an email field when confirmation by email is on)."""
    fields["fields"] = _clean_field_list(
        fields.get("fields", []), double_opt_in=bool(fields.get("double_opt_in"))
    )
    _check_owner(org, fields.get("default_assigned_to"))
    return record_create(WebForm, org=org, actor=actor, **fields)


@transaction.atomic
def webform_update(
    *, webform: WebForm, actor, expected_version: int | None = None, **fields
) -> WebForm:
    """Change a web form's design or settings (the same checks as creating one)."""
    if "fields" in fields or "double_opt_in" in fields:
        fields["fields"] = _clean_field_list(
            fields.get("fields", webform.fields),
            double_opt_in=bool(fields.get("double_opt_in", webform.double_opt_in)),
        )
    if "default_assigned_to" in fields:
        _check_owner(webform.organization, fields["default_assigned_to"])
    return record_update(webform, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def webform_delete(*, webform: WebForm, actor) -> WebForm:
    """Move a web form to the trash: its public URL answers 404 until it is restored."""
    return record_delete(webform, actor=actor)


def webform_public_url(form: WebForm) -> str:
    """The absolute address the public posts to (``SITE_URL`` + ``/f/<key>/``)."""
    return settings.SITE_URL + reverse("leads:webform_public", kwargs={"key": form.key})


# --- the public side -------------------------------------------------------------------------


def _rate_limit_key(form: WebForm, ip: str, minute: int) -> str:
    return f"pulse:webform-posts:{form.key}:{ip}:{minute}"


def webform_rate_limit_hit(*, form: WebForm, ip: str, now=None) -> bool:
    """Count one post from ``ip`` to ``form``; True when the last 60 seconds are over the limit.

    A sliding window from two per-minute counters: this minute's posts plus the previous
    minute's, weighted by the share of it still inside the last 60 seconds. So a burst
    cannot pass twice the limit by straddling a minute boundary, as a plain per-minute
    counter allows. ``cache.add`` starts a counter (a no-op when it exists) and ``incr`` is
    atomic in Redis, so concurrent web processes share one exact count.
    """
    from .services import lead_settings

    limit = lead_settings(org=form.organization).form_rate_limit_per_minute
    seconds = (now or timezone.now()).timestamp()
    minute, into = divmod(seconds, 60)
    ip = ip or "unknown"
    key = _rate_limit_key(form, ip, int(minute))
    cache.add(key, 0, timeout=180)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=180)
        count = 1
    previous = cache.get(_rate_limit_key(form, ip, int(minute) - 1)) or 0
    return count + previous * (1 - into / 60) > limit


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, list | dict):
        raise ValueError
    return str(value).strip()


def clean_submission(form: WebForm, data: dict) -> tuple[dict, dict]:
    """Check posted ``data`` against the form: (raw values to store, typed lead fields).

    Raises ``ApplicationError`` with an error per field (keys are the form's field
    names, ``consent`` for the checkbox). Values of fields the form does not have
    are ignored.
    """
    errors: dict[str, list[str]] = {}
    raw: dict[str, str] = {}
    lead_fields: dict[str, Any] = {}
    custom_raw: dict[str, str] = {}
    custom_definitions = None
    for item in form.fields:
        name = item["name"]
        try:
            value = _scalar(data.get(name))
        except ValueError:
            errors[name] = [_("Send one value.")]
            continue
        if len(value) > MAX_VALUE_LENGTH:
            errors[name] = [_("Keep this under %(n)s characters.") % {"n": MAX_VALUE_LENGTH}]
            continue
        if not value:
            if item.get("required"):
                errors[name] = [_("This field is required.")]
            continue
        raw[name] = value
        if name.startswith(CUSTOM_PREFIX):
            custom_raw[name[len(CUSTOM_PREFIX) :]] = value
            continue
        if name not in LEAD_FORM_FIELDS:  # a field since removed from the allowed list
            continue
        if name == "country":
            value = value.upper()
        try:
            lead_fields[name] = Lead._meta.get_field(name).clean(value, None)
        except ValidationError as exc:
            errors[name] = [str(m) for m in exc.messages]
            continue
        if name == "value" and lead_fields[name] < 0:
            errors[name] = [_("A value cannot be negative.")]
    if custom_raw:
        from pulse.extras.customfields import validate_custom_fields

        custom_definitions = _custom_definitions()
        definitions = [custom_definitions[k] for k in custom_raw if k in custom_definitions]
        try:
            lead_fields["custom_fields"] = validate_custom_fields(
                Lead,
                {k: v for k, v in custom_raw.items() if k in custom_definitions},
                definitions=definitions,
            )
        except ApplicationError as exc:
            errors.update(exc.errors)
    if form.consent_text and not _truthy(data.get(CONSENT_FIELD)):
        errors[CONSENT_FIELD] = [_("Please tick the box to agree.")]
    if errors:
        raise ApplicationError(errors=errors)
    return raw, lead_fields


def _lead_title(form: WebForm, fields: dict) -> str:
    if fields.get("title"):
        return fields["title"]
    who = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
    who = who or fields.get("company_name") or fields.get("email") or _("Someone")
    return (_("%(who)s via %(form)s") % {"who": who, "form": form.name})[:200]


def _make_lead(form: WebForm, submission: WebFormSubmission, lead_fields: dict) -> Lead:
    from . import services

    fields = dict(lead_fields)
    fields["title"] = _lead_title(form, fields)
    fields.update(
        source=form.default_source,
        web_form=form,
        referrer=submission.referrer,
        **{name: (submission.utm or {}).get(name, "") for name in UTM_FIELDS},
    )
    # Only an explicit owner is passed: without one, the assignment rules decide.
    if form.default_assigned_to_id:
        fields["assigned_to"] = form.default_assigned_to
    lead = services.lead_create(org=form.organization, actor=None, **fields)
    services.lead_engagement_record(lead=lead, kind=EngagementKind.FORM_SUBMITTED, detail=form.name)
    return lead


def _clean_ip(ip: str | None) -> str | None:
    try:
        validate_ipv46_address(ip or "")
    except ValidationError:
        return None
    return ip


@transaction.atomic
def webform_submit(
    *,
    form: WebForm,
    data: dict,
    ip: str | None,
    user_agent: str = "",
    referrer: str = "",
    utm: dict | None = None,
) -> WebFormSubmission:
    """Take one public post to ``form``: rate limit, honeypot, validation, then either a
    lead (accepted) or, with double opt-in, a pending submission and a confirmation
    email; the lead is made when the link is followed (``webform_confirm``)."""
    if not form.active or form.is_deleted:
        raise WebFormClosed(_("This form is no longer accepting submissions."))
    if webform_rate_limit_hit(form=form, ip=ip or ""):
        raise WebFormRateLimited(
            _("Too many submissions from your address. Please wait a minute and try again.")
        )
    utm = {k: str(v)[:200] for k, v in (utm or {}).items() if k in UTM_FIELDS and v}
    common = {
        "organization": form.organization,
        "form": form,
        "utm": utm,
        "referrer": (referrer or "")[:1000],
        "ip_address": _clean_ip(ip),
        "user_agent": (user_agent or "")[:300],
    }
    try:
        trap = _scalar(data.get(HONEYPOT_FIELD))
    except ValueError:
        trap = "filled"
    if trap:
        kept = {}
        for key, value in list(data.items())[:30]:
            kept[str(key)[:60]] = str(value)[:500]
        return WebFormSubmission.objects.create(
            status=WebFormSubmission.Status.SPAM, data=kept, **common
        )
    raw, lead_fields = clean_submission(form, data)
    consent = bool(form.consent_text) and _truthy(data.get(CONSENT_FIELD))
    if form.double_opt_in:
        submission = WebFormSubmission.objects.create(
            status=WebFormSubmission.Status.PENDING,
            data=raw,
            consent_given=consent,
            confirm_token=secrets.token_urlsafe(32),
            **common,
        )
        transaction.on_commit(lambda: _send_confirmation(form, submission))
        return submission
    submission = WebFormSubmission(
        status=WebFormSubmission.Status.ACCEPTED, data=raw, consent_given=consent, **common
    )
    submission.lead = _make_lead(form, submission, lead_fields)
    submission.save()
    return submission


CONFIRM_SUBJECT = gettext_lazy("Please confirm your request")
CONFIRM_BODY = gettext_lazy(
    "Hello,\n\nsomeone (we hope you) sent the form “%(form)s” of %(org)s with this address.\n"
    "Please confirm by opening this link within %(days)s days:\n\n%(url)s\n\n"
    "If it was not you, ignore this email and nothing more will happen.\n"
)


def webform_confirm_url(submission: WebFormSubmission) -> str:
    return settings.SITE_URL + reverse(
        "leads:webform_confirm",
        kwargs={"key": submission.form.key, "token": submission.confirm_token},
    )


def _send_confirmation(form: WebForm, submission: WebFormSubmission) -> None:
    body = str(CONFIRM_BODY) % {
        "form": form.name,
        "org": form.organization.name,
        "days": CONFIRM_DAYS,
        "url": webform_confirm_url(submission),
    }
    send_mail(str(CONFIRM_SUBJECT), body, None, [submission.data["email"]])


@transaction.atomic
def webform_confirm(*, token: str, form: WebForm | None = None) -> WebFormSubmission:
    """Follow a confirmation link: the pending submission's lead is made, once.

    Idempotent: a second visit returns the confirmed submission unchanged. Unknown
    tokens and links older than seven days are refused with ``WebFormTokenInvalid``.
    """
    submissions = WebFormSubmission.objects.select_for_update().filter(confirm_token=token)
    if form is not None:
        submissions = submissions.filter(form=form)
    submission = submissions.first() if token else None
    if submission is None or submission.status not in (
        WebFormSubmission.Status.PENDING,
        WebFormSubmission.Status.CONFIRMED,
    ):
        raise WebFormTokenInvalid(_("This confirmation link is not valid."))
    if submission.status == WebFormSubmission.Status.CONFIRMED:
        return submission
    if submission.created_at < timezone.now() - timedelta(days=CONFIRM_DAYS):
        raise WebFormTokenInvalid(
            _("This confirmation link has expired. Please send the form again."), expired=True
        )
    form = submission.form
    _raw, lead_fields = clean_submission(
        form, {**submission.data, CONSENT_FIELD: submission.consent_given}
    )
    submission.lead = _make_lead(form, submission, lead_fields)
    submission.status = WebFormSubmission.Status.CONFIRMED
    submission.confirmed_at = timezone.now()
    submission.save(update_fields=["lead", "status", "confirmed_at"])
    return submission

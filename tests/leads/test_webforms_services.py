"""Web form services: designing a form, and what a submission does (flat, given/when/then)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache

from pulse.core.errors import ApplicationError
from pulse.leads.models import Lead, LeadEngagement, WebForm, WebFormSubmission
from pulse.leads.services import lead_settings
from pulse.leads.webforms import (
    WebFormClosed,
    WebFormRateLimited,
    WebFormTokenInvalid,
    webform_confirm,
    webform_create,
    webform_delete,
    webform_submit,
    webform_update,
)
from tests.accounts.factories import make_member


def clear_rate_limit(form, ips) -> None:
    """Remove this test's counters (the cache is Redis, shared, on the PG run)."""
    from django.utils import timezone

    from pulse.leads.webforms import _rate_limit_key

    minute = int(timezone.now().timestamp() // 60)
    cache.delete_many(
        [_rate_limit_key(form, ip, m) for ip in ips for m in (minute - 1, minute, minute + 1)]
    )


FIELDS = [
    {"name": "first_name", "label": "Name", "required": True},
    {"name": "email", "label": "Email", "required": True},
    {"name": "company_name", "label": "Company", "required": False},
]


@pytest.fixture
def form(in_org, owner):
    return webform_create(org=in_org, actor=owner, name="Contact sales", fields=FIELDS)


def _leads(org):
    return Lead.objects.unscoped().filter(organization=org)


# --- designing ---------------------------------------------------------------------------


def test_create_keeps_fields_in_order_with_booleans(in_org, owner):
    form = webform_create(
        org=in_org,
        actor=owner,
        name="Demo",
        fields=[
            {"name": "email", "label": " Email ", "required": "on"},
            {"name": "value", "label": "Budget"},
        ],
    )
    assert form.fields == [
        {"name": "email", "label": "Email", "required": True},
        {"name": "value", "label": "Budget", "required": False},
    ]
    assert len(form.key) >= 16


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([{"name": "password", "label": "Password"}], "is not a lead field"),
        ([{"name": "email", "label": ""}], "give it a label"),
        ([{"name": "email", "label": "A"}, {"name": "email", "label": "B"}], "twice"),
        ([], "at least one field"),
        ("email", "Send a list"),
        (["email"], "send an object"),
    ],
)
def test_create_refuses_bad_field_lists(in_org, owner, fields, message):
    with pytest.raises(ApplicationError) as exc:
        webform_create(org=in_org, actor=owner, name="Bad", fields=fields)
    assert message in " ".join(exc.value.errors["fields"])
    assert not WebForm.objects.filter(name="Bad").exists()


def test_double_opt_in_needs_an_email_field_and_makes_it_required(in_org, owner):
    with pytest.raises(ApplicationError) as exc:
        webform_create(
            org=in_org,
            actor=owner,
            name="Paper",
            double_opt_in=True,
            fields=[{"name": "first_name", "label": "Name"}],
        )
    assert exc.value.errors == {"fields": ["A form confirmed by email needs an email field."]}
    form = webform_create(
        org=in_org,
        actor=owner,
        name="Paper",
        double_opt_in=True,
        fields=[{"name": "email", "label": "Email", "required": False}],
    )
    assert form.fields == [{"name": "email", "label": "Email", "required": True}]


def test_custom_fields_of_leads_can_be_asked(in_org, owner):
    from django.contrib.contenttypes.models import ContentType

    from pulse.extras.services import customfield_create

    customfield_create(
        org=in_org,
        actor=owner,
        content_type=ContentType.objects.get_for_model(Lead),
        key="budget_band",
        label="Budget band",
        field_type="choice",
        choices=["small", "large"],
    )
    form = webform_create(
        org=in_org,
        actor=owner,
        name="Custom",
        fields=[
            {"name": "email", "label": "Email", "required": True},
            {"name": "custom_fields.budget_band", "label": "Budget", "required": True},
        ],
    )
    with pytest.raises(ApplicationError) as exc:
        webform_submit(
            form=form, data={"email": "a@b.co", "custom_fields.budget_band": "huge"}, ip="10.0.0.1"
        )
    assert list(exc.value.errors) == ["custom_fields.budget_band"]
    submission = webform_submit(
        form=form, data={"email": "a@b.co", "custom_fields.budget_band": "large"}, ip="10.0.0.1"
    )
    assert submission.lead.custom_fields == {"budget_band": "large"}


def test_owner_must_be_a_member(in_org, owner, other_owner, form):
    with pytest.raises(ApplicationError) as exc:
        webform_update(webform=form, actor=owner, default_assigned_to=other_owner)
    assert list(exc.value.errors) == ["default_assigned_to"]
    form.refresh_from_db()
    assert form.default_assigned_to is None


def test_update_and_delete(in_org, owner, form):
    form = webform_update(webform=form, actor=owner, expected_version=1, name="Sales")
    assert (form.name, form.version) == ("Sales", 2)
    with pytest.raises(ApplicationError):
        webform_update(webform=form, actor=owner, expected_version=1, name="Stale")
    webform_delete(webform=form, actor=owner)
    assert WebForm.trash.filter(pk=form.pk).exists()


# --- submitting --------------------------------------------------------------------------


def test_submit_makes_a_lead_with_source_utm_referrer_and_engagement(in_org, form):
    submission = webform_submit(
        form=form,
        data={"first_name": " Ada ", "email": "ada@example.com", "ignored": "x"},
        ip="203.0.113.9",
        user_agent="Mozilla/5.0",
        referrer="https://example.com/pricing",
        utm={"utm_source": "newsletter", "utm_campaign": "spring", "utm_other": "no"},
    )
    lead = submission.lead
    assert submission.status == WebFormSubmission.Status.ACCEPTED
    assert submission.data == {"first_name": "Ada", "email": "ada@example.com"}
    assert submission.utm == {"utm_source": "newsletter", "utm_campaign": "spring"}
    assert (submission.ip_address, submission.user_agent) == ("203.0.113.9", "Mozilla/5.0")
    assert (lead.first_name, lead.email, lead.title) == (
        "Ada",
        "ada@example.com",
        "Ada via Contact sales",
    )
    assert (lead.source, lead.web_form_id) == ("web_form", form.pk)
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("newsletter", "", "spring")
    assert lead.referrer == "https://example.com/pricing"
    assert lead.created_by is None
    assert list(LeadEngagement.objects.filter(lead=lead).values_list("kind", "detail")) == [
        ("form_submitted", "Contact sales")
    ]


def test_missing_required_and_bad_values_are_field_errors_and_store_nothing(in_org, form):
    with pytest.raises(ApplicationError) as exc:
        webform_submit(form=form, data={"first_name": "", "email": "not-an-email"}, ip="10.0.0.1")
    assert exc.value.errors == {
        "first_name": ["This field is required."],
        "email": ["Enter a valid email address."],
    }
    assert not WebFormSubmission.objects.exists()
    assert not _leads(in_org).exists()


def test_honeypot_is_spam_without_a_lead(in_org, form):
    submission = webform_submit(
        form=form,
        data={"first_name": "Bot", "email": "bot@x.co", "homepage": "http://x"},
        ip="1.2.3.4",
    )
    assert submission.status == WebFormSubmission.Status.SPAM
    assert submission.lead is None
    assert not _leads(in_org).exists()


def test_consent_is_required_when_the_form_asks(in_org, owner, form):
    form = webform_update(webform=form, actor=owner, consent_text="I agree to be contacted.")
    with pytest.raises(ApplicationError) as exc:
        webform_submit(form=form, data={"first_name": "Ada", "email": "a@b.co"}, ip="10.0.0.1")
    assert exc.value.errors == {"consent": ["Please tick the box to agree."]}
    submission = webform_submit(
        form=form, data={"first_name": "Ada", "email": "a@b.co", "consent": "on"}, ip="10.0.0.1"
    )
    assert submission.consent_given is True


def test_known_email_attaches_to_the_existing_contact(in_org, owner, form):
    from pulse.contacts.services import contact_create

    contact = contact_create(
        org=in_org, actor=owner, first_name="Grace", last_name="Hopper", email="Grace@Navy.mil"
    )
    submission = webform_submit(
        form=form, data={"first_name": "Grace", "email": "grace@navy.mil"}, ip="10.0.0.1"
    )
    assert submission.lead.contact_id == contact.pk


def test_default_owner_is_used_and_otherwise_left_to_routing(in_org, owner, form):
    rep = make_member(in_org, "sales_rep")
    form = webform_update(webform=form, actor=owner, default_assigned_to=rep)
    lead = webform_submit(
        form=form, data={"first_name": "A", "email": "a@b.co"}, ip="10.0.0.1"
    ).lead
    assert lead.assigned_to_id == rep.pk
    form = webform_update(webform=form, actor=owner, default_assigned_to=None)
    lead = webform_submit(
        form=form, data={"first_name": "B", "email": "b@b.co"}, ip="10.0.0.1"
    ).lead
    # No assignment rule in this organization: routing leaves it unassigned.
    assert lead.assigned_to_id is None


def test_inactive_form_refuses(in_org, owner, form):
    form = webform_update(webform=form, actor=owner, active=False)
    with pytest.raises(WebFormClosed):
        webform_submit(form=form, data={"first_name": "A", "email": "a@b.co"}, ip="10.0.0.1")
    assert not WebFormSubmission.objects.exists()


def test_rate_limit_counts_per_ip_and_form(in_org, form):
    settings = lead_settings(org=in_org)
    settings.form_rate_limit_per_minute = 3
    settings.save()
    for n in range(3):
        webform_submit(form=form, data={"first_name": "A", "email": f"a{n}@b.co"}, ip="10.0.0.7")
    with pytest.raises(WebFormRateLimited):
        webform_submit(form=form, data={"first_name": "A", "email": "x@b.co"}, ip="10.0.0.7")
    # Another address is not held back by the first one's flood.
    webform_submit(form=form, data={"first_name": "A", "email": "y@b.co"}, ip="10.0.0.8")
    assert WebFormSubmission.objects.count() == 4
    assert _leads(in_org).count() == 4
    clear_rate_limit(form, ["10.0.0.7", "10.0.0.8"])


def test_rate_limit_is_a_sliding_minute_across_the_boundary(in_org, form):
    """Five posts at the end of one minute and one at the start of the next are six in
    the same 60 seconds: the sixth is refused. A plain per-minute counter let it through."""
    from datetime import UTC, datetime

    from pulse.leads.webforms import _rate_limit_key, webform_rate_limit_hit

    settings = lead_settings(org=in_org)
    settings.form_rate_limit_per_minute = 5
    settings.save()
    start = datetime(2031, 3, 4, 12, 0, 58, tzinfo=UTC)
    ip = "10.0.0.9"
    try:
        hits = [
            webform_rate_limit_hit(form=form, ip=ip, now=start + timedelta(seconds=n * 0.3))
            for n in range(5)
        ]
        assert hits == [False] * 5
        assert webform_rate_limit_hit(form=form, ip=ip, now=start + timedelta(seconds=2.5))
        # Nearly a minute later the earlier posts have slid out of the window.
        assert not webform_rate_limit_hit(form=form, ip=ip, now=start + timedelta(seconds=61.9))
    finally:
        minute = int(start.timestamp() // 60)
        cache.delete_many([_rate_limit_key(form, ip, m) for m in (minute, minute + 1)])


# --- double opt-in -----------------------------------------------------------------------


@pytest.fixture
def paper(in_org, owner):
    return webform_create(
        org=in_org,
        actor=owner,
        name="Whitepaper",
        double_opt_in=True,
        fields=[{"name": "email", "label": "Email"}],
    )


def test_double_opt_in_waits_for_the_link_then_makes_the_lead_once(
    in_org, paper, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submission = webform_submit(form=paper, data={"email": "ada@example.com"}, ip="10.0.0.1")
    assert submission.status == WebFormSubmission.Status.PENDING
    assert submission.lead is None
    assert not _leads(in_org).exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    assert f"/f/{paper.key}/confirm/{submission.confirm_token}/" in mail.outbox[0].body

    confirmed = webform_confirm(token=submission.confirm_token)
    again = webform_confirm(token=submission.confirm_token, form=paper)

    assert confirmed.status == WebFormSubmission.Status.CONFIRMED
    assert confirmed.confirmed_at is not None
    assert again.lead_id == confirmed.lead_id
    assert _leads(in_org).count() == 1
    assert confirmed.lead.email == "ada@example.com"


def test_expired_or_unknown_token_is_refused(in_org, paper):
    submission = webform_submit(form=paper, data={"email": "ada@example.com"}, ip="10.0.0.1")
    WebFormSubmission.objects.filter(pk=submission.pk).update(
        created_at=submission.created_at - timedelta(days=8)
    )
    with pytest.raises(WebFormTokenInvalid) as exc:
        webform_confirm(token=submission.confirm_token)
    assert exc.value.expired
    with pytest.raises(WebFormTokenInvalid) as exc:
        webform_confirm(token="nope")
    assert not exc.value.expired
    with pytest.raises(WebFormTokenInvalid):
        webform_confirm(token="")
    submission.refresh_from_db()
    assert submission.status == WebFormSubmission.Status.PENDING
    assert not _leads(in_org).exists()


def test_demo_seeds_two_forms_with_leads_pending_and_spam(in_org, owner):
    import random

    from pulse.leads.demo import seed_web_forms

    seed_web_forms(in_org, {"owner": owner}, random.Random(4))

    forms = {f.name: f for f in WebForm.objects.all()}
    assert set(forms) == {"Contact sales", "Download the whitepaper"}
    assert forms["Download the whitepaper"].double_opt_in
    statuses = sorted(WebFormSubmission.objects.values_list("status", flat=True))
    assert statuses.count("spam") == 2
    assert statuses.count("pending") == 1
    assert statuses.count("confirmed") == 4
    assert statuses.count("accepted") == 10
    assert Lead.objects.filter(web_form__isnull=False).count() == 14


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.one_of(
    st.text(max_size=60),
    st.integers(),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=2),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "first_name": _values,
            "email": _values,
            "country": _values,
            "value": _values,
            "website": _values,
            "consent": _values,
        },
    )
)
def test_any_public_input_is_a_lead_or_field_errors_never_a_crash(in_org, owner, data):
    from pulse.leads.webforms import clean_submission

    form = WebForm(
        organization=in_org,
        name="Fuzz",
        consent_text="Agree?",
        fields=[
            {"name": "first_name", "label": "Name", "required": True},
            {"name": "email", "label": "Email", "required": False},
            {"name": "country", "label": "Country", "required": False},
            {"name": "value", "label": "Budget", "required": False},
            {"name": "website", "label": "Site", "required": False},
        ],
    )
    try:
        raw, fields = clean_submission(form, data)
    except ApplicationError as exc:
        assert exc.errors and set(exc.errors) <= {
            "first_name",
            "email",
            "country",
            "value",
            "website",
            "consent",
        }
        assert all(isinstance(m, str) and m for msgs in exc.errors.values() for m in msgs)
    else:
        assert fields["first_name"] == raw["first_name"]
        assert set(raw) <= {"first_name", "email", "country", "value", "website"}

"""The public endpoint /f/<key>/: what a visitor, a bot and a flood see, browser and JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from pulse.core.tenancy import tenant_context
from pulse.leads.models import Lead, WebFormSubmission
from pulse.leads.services import lead_settings
from pulse.leads.webforms import webform_update
from tests.leads.factories import make_web_form
from tests.leads.test_webforms_services import clear_rate_limit

XSS = '<script>alert("x")</script>'


@pytest.fixture
def form(org, owner):
    with tenant_context(org, actor=owner):
        return make_web_form(
            org,
            owner,
            name="Contact sales",
            fields=[
                {"name": "first_name", "label": "Your name", "required": True},
                {"name": "email", "label": "Email", "required": True},
                {"name": "description", "label": "Message", "required": False},
            ],
        )


@pytest.fixture
def public():
    # A real browser would not send a CSRF token to an embedded form on another site.
    return Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.4")


def _url(form):
    return reverse("leads:webform_public", kwargs={"key": form.key})


def _leads(org):
    return Lead.objects.unscoped().filter(organization=org)


def _submissions(org):
    return WebFormSubmission.objects.unscoped().filter(organization=org)


def test_get_renders_the_standalone_form_with_utm_and_honeypot(form, public):
    response = public.get(
        _url(form) + "?utm_source=ads&utm_campaign=spring", HTTP_REFERER="https://blog.example/post"
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert "pulse-sidebar" not in content  # no app chrome
    assert "Your name" in content and 'name="homepage"' in content
    assert 'name="utm_source" value="ads"' in content
    assert 'name="utm_campaign" value="spring"' in content
    assert 'value="https://blog.example/post"' in content
    assert "X-Frame-Options" not in response  # embeddable in an iframe


def test_valid_post_makes_a_lead_with_source_utm_and_referrer(org, form, public):
    response = public.post(
        _url(form),
        {
            "first_name": "Ada",
            "email": "ada@example.com",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "referrer": "https://example.com/pricing",
        },
        HTTP_USER_AGENT="Mozilla/5.0 test",
    )
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    lead = _leads(org).get()
    assert (lead.first_name, lead.email, lead.source) == ("Ada", "ada@example.com", "web_form")
    assert (lead.utm_source, lead.utm_medium) == ("newsletter", "email")
    assert lead.referrer == "https://example.com/pricing"
    submission = _submissions(org).get()
    assert (submission.ip_address, submission.user_agent) == ("198.51.100.4", "Mozilla/5.0 test")


def test_referrer_falls_back_to_the_referer_header_and_utm_to_the_query(org, form, public):
    public.post(
        _url(form) + "?utm_campaign=launch",
        {"first_name": "Ada", "email": "ada@example.com"},
        HTTP_REFERER="https://partner.example/",
    )
    lead = _leads(org).get()
    assert (lead.referrer, lead.utm_campaign) == ("https://partner.example/", "launch")


def test_thank_you_message_or_redirect(org, owner, form, public):
    with tenant_context(org, actor=owner):
        form = webform_update(
            webform=form, actor=owner, thank_you_message="Talk soon, <b>friend</b>!"
        )
    response = public.post(_url(form), {"first_name": "A", "email": "a@b.co"})
    assert "Talk soon, &lt;b&gt;friend&lt;/b&gt;!" in response.content.decode()
    with tenant_context(org, actor=owner):
        form = webform_update(webform=form, actor=owner, redirect_url="https://example.com/thanks")
    response = public.post(_url(form), {"first_name": "B", "email": "b@b.co"})
    assert (response.status_code, response["Location"]) == (303, "https://example.com/thanks")


def test_missing_required_is_400_with_field_errors_and_stores_nothing(org, form, public):
    response = public.post(_url(form), {"first_name": "", "email": "ada@example.com"})
    assert response.status_code == 400
    content = response.content.decode()
    assert "This field is required." in content
    assert 'value="ada@example.com"' in content  # what they typed is kept
    assert not _submissions(org).exists() and not _leads(org).exists()

    response = public.post(
        _url(form),
        {"email": "nope"},
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "first_name": ["This field is required."],
            "email": ["Enter a valid email address."],
        }
    }
    assert not _submissions(org).exists()


def test_json_post_answers_201(org, form, public):
    response = public.post(
        _url(form),
        {"first_name": "Ada", "email": "ada@example.com", "utm_source": "app"},
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"
    assert _leads(org).get().utm_source == "app"


def test_malformed_json_is_a_clear_400(org, form, public):
    for body in ("{not json", "[1, 2]"):
        response = public.post(_url(form), body, content_type="application/json")
        assert response.status_code == 400
        assert "JSON object" in response.json()["errors"]["__all__"][0]
        response = public.post(
            _url(form),
            {"first_name": ["a", "b"], "email": "a@b.co"},
            content_type="application/json",
        )
        assert response.json() == {"errors": {"first_name": ["Send one value."]}}
    assert not _submissions(org).exists()


def test_honeypot_gets_the_normal_thank_you_but_is_spam(org, form, public):
    response = public.post(
        _url(form), {"first_name": "Bot", "email": "bot@spam.example", "homepage": "http://spam"}
    )
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    assert _submissions(org).get().status == "spam"
    assert not _leads(org).exists()


def test_flood_from_one_address_is_429_after_the_limit(org, form, public):
    settings = lead_settings(org=org)
    settings.form_rate_limit_per_minute = 5
    settings.save()
    statuses = [
        public.post(_url(form), {"first_name": "A", "email": f"a{n}@b.co"}).status_code
        for n in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    response = public.post(
        _url(form), {"first_name": "A", "email": "z@b.co"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 429
    assert "Too many submissions" in response.json()["errors"]["__all__"][0]
    assert _leads(org).count() == 5
    assert _submissions(org).count() == 5
    clear_rate_limit(form, ["198.51.100.4"])


def test_injected_script_is_stored_as_text_and_rendered_escaped(org, owner, form, public):
    public.post(_url(form), {"first_name": XSS, "email": "x@example.com", "description": XSS})
    lead = _leads(org).get()
    assert lead.first_name == XSS and lead.description == XSS
    from pulse.core.testing import web_client

    client = web_client(owner, org)
    for url in (
        reverse("leads:lead_detail", args=[lead.pk]),
        reverse("leads:webform_detail", args=[form.pk]),
    ):
        content = client.get(url).content.decode()
        assert XSS not in content, url
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in content, url
    # A refused post shows the value back escaped too.
    response = public.post(_url(form), {"first_name": XSS, "email": "bad"})
    assert XSS not in response.content.decode()


def test_double_opt_in_over_http(org, owner, public, django_capture_on_commit_callbacks):
    with tenant_context(org, actor=owner):
        paper = make_web_form(
            org,
            owner,
            name="Whitepaper",
            double_opt_in=True,
            fields=[{"name": "email", "label": "Email", "required": True}],
        )
    with django_capture_on_commit_callbacks(execute=True):
        response = public.post(_url(paper), {"email": "ada@example.com"})
    assert "we sent you an email" in response.content.decode()
    assert not _leads(org).exists()
    submission = _submissions(org).get()
    confirm = reverse(
        "leads:webform_confirm", kwargs={"key": paper.key, "token": submission.confirm_token}
    )
    assert confirm in mail.outbox[0].body

    assert public.get(confirm).status_code == 200
    assert public.get(confirm).status_code == 200  # twice is fine
    assert _leads(org).count() == 1

    WebFormSubmission.objects.unscoped().filter(pk=submission.pk).update(
        created_at=submission.created_at - timedelta(days=8), status="pending", lead=None
    )
    response = public.get(confirm)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    bad = reverse("leads:webform_confirm", kwargs={"key": paper.key, "token": "nope"})
    assert public.get(bad).status_code == 404


def test_inactive_unknown_and_trashed_forms_answer_clearly(org, owner, form, public):
    assert public.get(reverse("leads:webform_public", kwargs={"key": "nope"})).status_code == 404
    with tenant_context(org, actor=owner):
        form = webform_update(webform=form, actor=owner, active=False)
    response = public.get(_url(form))
    assert response.status_code == 410
    assert "no longer accepting" in response.content.decode()
    response = public.post(_url(form), {"first_name": "A", "email": "a@b.co"})
    assert response.status_code == 410
    assert not _submissions(org).exists()
    from pulse.leads.webforms import webform_delete

    with tenant_context(org, actor=owner):
        webform_delete(webform=form, actor=owner)
    assert public.get(_url(form)).status_code == 404


def test_another_organizations_key_cannot_reach_the_first(
    org, other_org, other_owner, form, public, django_capture_on_commit_callbacks
):
    with tenant_context(other_org, actor=other_owner):
        theirs = make_web_form(
            other_org,
            other_owner,
            double_opt_in=True,
            fields=[{"name": "email", "label": "Email", "required": True}],
        )
    with tenant_context(org):
        pass
    with django_capture_on_commit_callbacks(execute=True):
        public.post(_url(form), {"first_name": "A", "email": "a@b.co"})
    # Org A's lead exists; org B's key writes only to org B.
    public.post(_url(theirs), {"email": "b@b.co"})
    assert _leads(org).count() == 1
    assert _submissions(org).count() == 1
    assert _submissions(other_org).count() == 1
    # A's pending token under B's key (and B's token under A's key) is 404.
    with tenant_context(org):
        pass
    theirs_token = _submissions(other_org).get().confirm_token
    url = reverse("leads:webform_confirm", kwargs={"key": form.key, "token": theirs_token})
    assert public.get(url).status_code == 404
    assert _submissions(other_org).get().status == "pending"
    assert not _leads(other_org).exists()

"""Scoring pages and API: generic tests, override, score, model page, query counts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pulse.audit.models import AuditEntry
from pulse.core.testing import APITestCases, ViewTestCases, api_client, web_client
from pulse.leads.models import Lead, PredictiveModel, ScoringRule
from pulse.leads.scoring import lead_probability_override, predictive_train
from tests.leads.factories import make_lead, make_scoring_rule
from tests.leads.test_scoring_model import _history

pytestmark = pytest.mark.django_db

RULE_FORM = {
    "name": "Software",
    "kind": "field",
    "field": "industry",
    "operator": "equals",
    "value": "Software",
    "points": 15,
    "active": "on",
}


class TestScoringRuleViews(ViewTestCases.OrganizationObjectViewTestCase):
    model = ScoringRule
    form_data = RULE_FORM
    edit_data = {**RULE_FORM, "name": "Software (edited)", "points": 20}
    invalid_form_data = {**RULE_FORM, "operator": "gt", "value": "lots"}


class TestScoringRuleAPI(APITestCases.APITestCase):
    model = ScoringRule
    api_basename = "scoringrule"
    create_data = {
        "name": "Met",
        "kind": "engagement",
        "event": "meeting_held",
        "points": 20,
    }
    update_data = {"points": 30}
    invalid_create_data = {"name": "x", "kind": "field", "field": "nope", "points": 5}
    invalid_create_error_fields = {"field"}


class TestPredictiveModelAPI(APITestCases.ListAPI, APITestCases.RetrieveAPI):
    model = PredictiveModel
    api_basename = "predictivemodel"


def test_rules_page_is_for_admins_only(org, owner, rep):
    assert web_client(rep, org).get(reverse("leads:scoringrule_list")).status_code == 403
    assert web_client(owner, org).get(reverse("leads:scoringrule_list")).status_code == 200


def test_rules_list_query_count_is_pinned(org, owner, django_assert_max_num_queries, in_org):
    for _ in range(8):
        make_scoring_rule(in_org, owner)
    client = web_client(owner, org)
    client.get(reverse("leads:scoringrule_list"))  # settings row made on first visit
    with django_assert_max_num_queries(14):
        response = client.get(reverse("leads:scoringrule_list"))
    assert response.status_code == 200
    assert response.content.decode().count('data-id="') == 8


def test_reorder_by_buttons_and_drag(org, owner, in_org):
    a, b = make_scoring_rule(in_org, owner, name="A"), make_scoring_rule(in_org, owner, name="B")
    client = web_client(owner, org)
    url = reverse("leads:scoringrule_reorder")
    assert client.post(url, {"move": str(b.pk), "direction": "up"}).status_code == 302
    assert list(ScoringRule.objects.order_by("position").values_list("name", flat=True)) == [
        "B",
        "A",
    ]
    response = client.post(url, {"id": [str(a.pk), str(b.pk)]}, HTTP_ACCEPT="application/json")
    assert response.json() == {"ok": True}
    assert list(ScoringRule.objects.order_by("position").values_list("name", flat=True)) == [
        "A",
        "B",
    ]


def test_model_page_says_not_enough_history(org, owner, django_assert_max_num_queries):
    client = web_client(owner, org)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("leads:scoring_model"))
    assert response.status_code == 200
    assert "Not enough history yet (0 closed leads; needs 30" in response.content.decode()


def test_model_page_shows_calibration_and_retrains(
    org, owner, in_org, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    _history(in_org, owner, 40)
    client = web_client(owner, org)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("leads:scoring_model"))
    assert response.status_code == 302
    assert PredictiveModel.objects.get().status == "ready"
    with django_assert_max_num_queries(12):
        response = client.get(reverse("leads:scoring_model"))
    content = response.content.decode()
    assert 'data-testid="calibration-table"' in content
    assert "Source = Referral" in content
    assert "Training a new model" not in content


def test_model_page_denied_to_reps(org, rep):
    client = web_client(rep, org)
    assert client.get(reverse("leads:scoring_model")).status_code == 403
    assert client.post(reverse("leads:scoring_model")).status_code == 403
    assert not PredictiveModel.objects.unscoped().exists()


def test_override_is_recorded_in_the_audit_log_and_cleared(org, owner, in_org):
    lead = make_lead(in_org, owner)
    client = web_client(owner, org)
    url = reverse("leads:lead_probability", kwargs={"pk": lead.pk})

    response = client.post(
        url, {"probability": "65", "reason": "CEO said yes"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert 'data-testid="probability-override"' in response.content.decode()
    lead.refresh_from_db()
    assert (lead.probability, lead.probability_overridden_by) == (65, owner)
    assert lead.probability_overridden_at is not None
    entry = AuditEntry.objects.filter(object_id=str(lead.pk), action="update").latest("created_at")
    assert entry.actor == owner
    assert entry.changes["probability"] == [None, 65]

    assert client.post(url, {"clear": "1"}).status_code == 302
    lead.refresh_from_db()
    assert (lead.probability, lead.probability_overridden_by) == (None, None)
    assert lead.effective_probability is None


def test_override_refuses_bad_values_and_changes_nothing(org, owner, in_org):
    lead = make_lead(in_org, owner)
    response = web_client(owner, org).post(
        reverse("leads:lead_probability", kwargs={"pk": lead.pk}),
        {"probability": "150"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.probability is None


def test_read_only_member_cannot_override(org, owner, in_org):
    from tests.accounts.factories import make_member

    reader = make_member(org, "read_only")
    lead = make_lead(in_org, owner)
    response = web_client(reader, org).post(
        reverse("leads:lead_probability", kwargs={"pk": lead.pk}), {"probability": "10"}
    )
    assert response.status_code in {403, 404}
    lead.refresh_from_db()
    assert lead.probability is None


def test_score_partial_explains_the_score(org, owner, in_org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_scoring_rule(in_org, owner, field="industry", value="Software", points=80)
        lead = make_lead(in_org, owner, industry="Software")
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    lead.refresh_from_db()
    request = RequestFactory().get("/")
    request.user, request.organization = owner, org
    html = render_to_string("leads/partials/lead_score.html", {"lead": lead, "request": request})
    assert 'data-band="hot"' in html
    assert "Industry equals Software" in html
    assert "Not enough history yet" in html


def test_api_score_and_probability(org, owner, in_org):
    lead = make_lead(in_org, owner)
    client = api_client(owner, org)
    score_url = reverse("lead-score", kwargs={"pk": lead.pk})
    probability_url = reverse("lead-probability", kwargs={"pk": lead.pk})
    body = client.get(score_url).json()
    assert body["band"] == "cold" and body["model_ready"] is False
    assert "Not enough history" in body["model_message"]

    response = client.post(probability_url, {"probability": 40, "reason": "gut"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["probability"] == 40
    assert response.json()["probability_overridden_by"] == owner.pk

    response = client.post(probability_url, {"probability": 101}, format="json")
    assert response.status_code == 400
    assert "probability" in response.json()["errors"]

    response = client.post(probability_url, {"probability": None}, format="json")
    assert response.json()["probability_override"] is None


def test_api_model_latest_and_train(org, owner, rep, in_org, django_capture_on_commit_callbacks):
    client = api_client(owner, org)
    assert client.get(reverse("predictivemodel-latest")).status_code == 404
    assert api_client(rep, org).post(reverse("predictivemodel-train")).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("predictivemodel-train"))
    assert response.status_code == 202
    body = client.get(reverse("predictivemodel-latest")).json()
    assert body["status"] == "insufficient"
    assert body["message"].startswith("Not enough history yet (0 closed leads")


def test_api_reorder_rules(org, owner, in_org):
    a, b = make_scoring_rule(in_org, owner, name="A"), make_scoring_rule(in_org, owner, name="B")
    response = api_client(owner, org).post(
        reverse("scoringrule-reorder"), {"ids": [str(b.pk), str(a.pk)]}, format="json"
    )
    assert response.status_code == 200
    assert [r["name"] for r in response.json()] == ["B", "A"]


def test_override_service_keeps_lead_when_unchanged(in_org, owner):
    lead = make_lead(in_org, owner)
    version = lead.version
    lead_probability_override(lead=lead, actor=owner, probability=None)
    lead.refresh_from_db()
    assert lead.version == version
    assert Lead.objects.count() == 1
    predictive_train(org=in_org)

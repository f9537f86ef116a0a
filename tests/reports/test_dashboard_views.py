"""The dashboard page (home): lazy widgets, arranging them (copy on write), scope,
publishing and resetting; pinned query counts for the page and a widget."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from pulse.core.tenancy import tenant_context
from pulse.reports import services
from pulse.reports.models import Dashboard, DashboardWidget
from tests.accounts.factories import make_team
from tests.conftest import login
from tests.opportunities.factories import make_opportunity
from tests.reports.factories import make_dashboard_widget, make_report

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def widgets_of(dashboard) -> list[DashboardWidget]:
    return list(
        DashboardWidget.objects.unscoped()
        .filter(dashboard=dashboard, deleted_at__isnull=True)
        .order_by("position")
    )


def own_dashboard(user):
    return Dashboard.objects.unscoped().filter(owner=user, deleted_at__isnull=True).first()


def published(org, admin, name, **fields):
    with tenant_context(org, actor=admin):
        return services.dashboard_create(org=org, actor=admin, name=name, **fields)


def widget_urls(content: str) -> list[str]:
    return re.findall(r'hx-get="(/dashboard/widgets/[0-9a-f-]{36}/)"', content)


def test_home_is_the_dashboard_with_lazy_widgets(
    org, owner, owner_client, django_assert_num_queries
):
    owner_client.get(reverse("reports:dashboard"))  # makes the organization default
    with django_assert_num_queries(12):
        response = owner_client.get(reverse("reports:dashboard"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Welcome back, Olivia" in content
    dashboard = Dashboard.objects.unscoped().get(organization=org)
    widgets = widgets_of(dashboard)
    assert widget_urls(content) == [
        reverse("reports:dashboard_widget", args=[w.pk]) for w in widgets
    ]
    assert 'class="col-12 col-md-3 dashboard-widget"' in content  # one column on a phone
    assert 'hx-trigger="load"' in content
    assert "reports/report_chart.js" in content and "reports/dashboard.js" in content


def test_widget_shows_number_link_chart_and_rows(
    org, owner, owner_client, django_assert_num_queries
):
    with tenant_context(org, actor=owner):
        make_opportunity(org, owner, name="Tents", value=Decimal("1200"), assigned_to=owner)
    owner_client.get(reverse("reports:dashboard"))
    dashboard = Dashboard.objects.unscoped().get(organization=org)
    widget = next(w for w in widgets_of(dashboard) if w.kind == "open_pipeline")
    url = reverse("reports:dashboard_widget", args=[widget.pk])
    owner_client.get(url, **HX)  # warm the per-process caches (content types, stages)
    from django.core.cache import cache

    cache.clear()
    with django_assert_num_queries(7):
        response = owner_client.get(url, **HX)
    content = response.content.decode()
    value = re.search(r'<a href="([^"]+)"[^>]*data-testid="widget-value"[^>]*>([^<]+)</a>', content)
    assert value.group(2) == "EUR 1,200"
    link = html.unescape(value.group(1))
    assert link.startswith("/opportunities/?status=open") and f"assigned_to={owner.pk}" in link
    funnel = next(w for w in widgets_of(dashboard) if w.kind == "pipeline_by_stage")
    content = owner_client.get(
        reverse("reports:dashboard_widget", args=[funnel.pk]), **HX
    ).content.decode()
    chart = json.loads(html.unescape(re.search(r'data-chart="([^"]+)"', content).group(1)))
    assert chart["data"]["labels"][0] == "Qualification"
    assert chart["data"]["datasets"][0]["data"][0] == 1200.0


def test_a_widget_with_nothing_to_show_says_so(org, owner, owner_client):
    with tenant_context(org, actor=owner):
        widget = make_dashboard_widget(org, owner, kind="retired_widget")
    content = owner_client.get(
        reverse("reports:dashboard_widget", args=[widget.pk]), **HX
    ).content.decode()
    assert re.search(r'data-testid="widget-empty">\s*This widget no longer exists.', content)


def test_recent_changes_widget_lists_the_change_log(org, owner, owner_client):
    with tenant_context(org, actor=owner):
        make_opportunity(org, owner, name="Tents", value=Decimal("1200"))
    owner_client.get(reverse("reports:dashboard"))
    dashboard = Dashboard.objects.unscoped().get(organization=org)
    widget = next(w for w in widgets_of(dashboard) if w.kind == "recent_changes")
    content = owner_client.get(
        reverse("reports:dashboard_widget", args=[widget.pk]), **HX
    ).content.decode()
    assert "Olivia Owner created opportunity Tents" in content


def test_a_widget_of_another_users_dashboard_is_404(org, owner, rep):
    with tenant_context(org, actor=owner):
        theirs = services.dashboard_for_user(user=owner, org=org, for_edit=True)
    widget = widgets_of(theirs)[0]
    client = login(rep, org)
    assert client.get(reverse("reports:dashboard_widget", args=[widget.pk])).status_code == 404
    response = client.post(
        reverse("reports:dashboard_widget_update", args=[widget.pk]), {"width": "12"}, **HX
    )
    assert response.status_code == 404
    widget.refresh_from_db()
    assert widget.width == 3


def test_first_change_copies_the_published_dashboard_and_reloads(org, owner, rep):
    shared = published(org, owner, "Reps", roles=["sales_rep"])
    first = widgets_of(shared)[0]
    client = login(rep, org)
    response = client.post(
        reverse("reports:dashboard_widget_update", args=[first.pk]), {"width": "12"}, **HX
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("reports:dashboard") + "?customize=1"
    own = own_dashboard(rep)
    assert own.source == shared
    assert [(w.kind, w.width) for w in widgets_of(own)][0] == ("open_pipeline", 12)
    assert widgets_of(shared)[0].width == 3  # the published one is untouched
    # the page now shows the copy
    content = client.get(reverse("reports:dashboard")).content.decode()
    assert widget_urls(content)[0] == reverse(
        "reports:dashboard_widget", args=[widgets_of(own)[0].pk]
    )


def test_width_and_period_of_an_own_widget(org, rep):
    with tenant_context(org, actor=rep):
        own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    widget = widgets_of(own)[1]
    client = login(rep, org)
    url = reverse("reports:dashboard_widget_update", args=[widget.pk])
    response = client.post(url, {"width": "6"}, **HX)
    content = response.content.decode()
    assert f'id="widget-{widget.pk}"' in content and "col-md-6" in content
    response = client.post(url, {"period": "last_quarter"}, **HX)
    assert '<option value="last_quarter" selected>' in response.content.decode()
    widget.refresh_from_db()
    assert (widget.width, widget.period) == (6, "last_quarter")
    bad = client.post(url, {"period": "someday"}, **HX)
    assert bad.status_code == 400
    widget.refresh_from_db()
    assert widget.period == "last_quarter"


def test_remove_add_and_reorder(org, owner, rep):
    with tenant_context(org, actor=owner):
        report = make_report(org, owner, name="Deals by stage")
    with tenant_context(org, actor=rep):
        own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    client = login(rep, org)
    widgets = widgets_of(own)
    response = client.post(reverse("reports:dashboard_widget_remove", args=[widgets[0].pk]), **HX)
    assert (response.status_code, response.content) == (200, b"")
    response = client.post(reverse("reports:dashboard_widget_add"), {"kind": "win_rate"})
    assert response.status_code == 302
    response = client.post(
        reverse("reports:dashboard_widget_add"), {"kind": "report", "report": str(report.pk)}
    )
    assert response.status_code == 302
    kinds = [w.kind for w in widgets_of(own)]
    assert kinds == [w.kind for w in widgets[1:]] + ["win_rate", "report"]
    bad = client.post(reverse("reports:dashboard_widget_add"), {"kind": "tea_leaves"})
    assert bad.status_code == 302
    assert [w.kind for w in widgets_of(own)] == kinds
    current = widgets_of(own)
    wanted = [current[-1], *current[:-1]]
    response = client.post(
        reverse("reports:dashboard_reorder"),
        {"id": [str(w.pk) for w in wanted]},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"ids": [str(w.pk) for w in wanted], "reload": False}
    assert [w.pk for w in widgets_of(own)] == [w.pk for w in wanted]
    refused = client.post(
        reverse("reports:dashboard_reorder"),
        {"id": [str(wanted[0].pk)]},
        HTTP_ACCEPT="application/json",
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "errors": {"ids": ["Send every widget of this dashboard once, in the new order."]}
    }
    assert [w.pk for w in widgets_of(own)] == [w.pk for w in wanted]


def test_report_widget_shows_the_reports_chart(org, owner, owner_client):
    with tenant_context(org, actor=owner):
        report = make_report(org, owner, name="Deals by stage")
        make_opportunity(org, owner, name="Tents", value=Decimal("1200"))
        own = services.dashboard_for_user(user=owner, org=org, for_edit=True)
        widget = services.widget_add(dashboard=own, actor=owner, kind="report", report=report)
    content = owner_client.get(
        reverse("reports:dashboard_widget", args=[widget.pk]), **HX
    ).content.decode()
    assert 'data-testid="widget-chart"' in content
    chart = html.unescape(re.search(r'data-chart="([^"]+)"', content).group(1))
    assert '"type": "bar"' in chart and "Qualification" in chart
    assert report.get_absolute_url() in content


def test_scope_switcher_lists_only_what_the_role_may_see(org, owner, rep):
    north = make_team(org, "North", members=[rep])
    south = make_team(org, "South")
    client = login(rep, org)
    content = client.get(reverse("reports:dashboard")).content.decode()
    assert f'value="team:{north.pk}"' in content
    assert f'value="team:{south.pk}"' not in content
    response = client.post(reverse("reports:dashboard_scope"), {"scope": f"team:{north.pk}"})
    assert response.status_code == 302
    own = own_dashboard(rep)
    assert (own.scope, own.scope_team) == ("team", north)
    denied = client.post(reverse("reports:dashboard_scope"), {"scope": f"team:{south.pk}"})
    assert denied.status_code == 403
    own.refresh_from_db()
    assert (own.scope, own.scope_team) == ("team", north)


def test_denied_first_change_leaves_no_copy(org, owner, rep):
    south = make_team(org, "South")
    published(org, owner, "Reps", roles=["sales_rep"])
    client = login(rep, org)
    response = client.post(reverse("reports:dashboard_scope"), {"scope": f"team:{south.pk}"})
    assert response.status_code == 403
    assert own_dashboard(rep) is None


def test_reset_and_publish(org, owner, admin_user, rep):
    admin = login(admin_user, org)
    dialogs = admin.get(reverse("reports:dashboard_dialogs"), **HX).content.decode()
    assert 'data-testid="publish-dialog"' in dialogs and "Recent changes" in dialogs
    admin.post(reverse("reports:dashboard_widget_add"), {"kind": "inactive_contacts"})
    response = admin.post(
        reverse("reports:dashboard_publish"),
        {"name": "Sales floor", "roles": ["sales_rep"], "target": ""},
    )
    assert response.status_code == 302
    floor = Dashboard.objects.unscoped().get(name="Sales floor")
    assert (floor.roles, floor.owner) == (["sales_rep"], None)
    assert widgets_of(floor)[-1].kind == "inactive_contacts"
    # a rep sees it, and may neither publish nor see the publish dialog
    client = login(rep, org)
    assert (
        'data-testid="dashboard-published"'
        in client.get(reverse("reports:dashboard")).content.decode()
    )
    assert "publish-dialog" not in client.get(reverse("reports:dashboard_dialogs")).content.decode()
    denied = client.post(reverse("reports:dashboard_publish"), {"name": "Mine", "roles": ["admin"]})
    assert denied.status_code == 403
    assert Dashboard.objects.unscoped().filter(owner__isnull=True).count() == 2
    assert own_dashboard(rep) is None
    # the admin resets their own arrangement
    response = admin.post(reverse("reports:dashboard_reset"))
    assert response.status_code == 302
    assert own_dashboard(admin_user) is None

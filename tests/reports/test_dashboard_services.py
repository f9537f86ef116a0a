"""Dashboard services: what each user sees, copy on write, arranging widgets, publishing,
scopes; every change audited, every refused change leaves things as they were."""

from __future__ import annotations

import pytest

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import tenant_context
from pulse.reports import services
from pulse.reports.metrics import DEFAULT_LAYOUT
from pulse.reports.models import Dashboard, DashboardWidget
from tests.accounts.factories import make_member, make_team
from tests.reports.factories import make_report

pytestmark = pytest.mark.django_db


def kinds(dashboard) -> list[str]:
    return [
        w.kind
        for w in DashboardWidget.objects.unscoped()
        .filter(dashboard=dashboard, deleted_at__isnull=True)
        .order_by("position")
    ]


def layout(dashboard) -> list[tuple]:
    return [
        (w.kind, w.width, w.period, w.position)
        for w in DashboardWidget.objects.unscoped()
        .filter(dashboard=dashboard, deleted_at__isnull=True)
        .order_by("position")
    ]


@pytest.fixture
def ctx(org, owner):
    with tenant_context(org, actor=owner, source="system"):
        yield org


def published(org, admin, name, **fields):
    """A published dashboard made the way an admin makes one (default layout)."""
    return services.dashboard_create(org=org, actor=admin, name=name, **fields)


def test_first_look_makes_the_organization_default_from_the_default_layout(ctx, org, rep):
    dashboard = services.dashboard_for_user(user=rep, org=org)
    assert dashboard.is_published and dashboard.is_default
    assert kinds(dashboard) == [kind for kind, _w, _p in DEFAULT_LAYOUT]
    assert layout(dashboard)[0] == ("open_pipeline", 3, "this_quarter", 0)
    # a second look (anyone's) reuses it
    assert services.dashboard_for_user(user=rep, org=org) == dashboard
    assert Dashboard.objects.count() == 1


def test_published_for_team_beats_role_beats_default(ctx, org, owner, rep):
    other = make_member(org, Role.SALES_REP, full_name="Sam Seller")
    north = make_team(org, "North", members=[rep])
    default = published(org, owner, "Everyone", is_default=True)
    for_reps = published(org, owner, "Reps", roles=["sales_rep"])
    for_north = published(org, owner, "North", teams=[north])
    assert services.dashboard_for_user(user=rep, org=org) == for_north
    assert services.dashboard_for_user(user=other, org=org) == for_reps
    assert services.dashboard_for_user(user=owner, org=org) == default


def test_first_change_copies_what_the_user_sees_and_leaves_the_published_one(ctx, org, owner, rep):
    shared = published(org, owner, "Reps", roles=["sales_rep"])
    before = layout(shared)
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    assert (own.owner, own.source, own.is_published) == (rep, shared, False)
    assert layout(own) == before
    first = DashboardWidget.objects.filter(dashboard=own).order_by("position").first()
    services.widget_update(widget=first, actor=rep, width=12, period="last_month")
    assert layout(shared) == before  # untouched
    assert layout(own)[0] == ("open_pipeline", 12, "last_month", 0)
    # later looks and edits use the copy
    assert services.dashboard_for_user(user=rep, org=org) == own
    assert services.dashboard_for_user(user=rep, org=org, for_edit=True) == own
    assert Dashboard.objects.filter(owner=rep).count() == 1
    entry = AuditEntry.objects.filter(object_id=str(first.pk), action="update").get()
    assert entry.actor == rep


def test_widget_counterpart_maps_a_published_widget_to_the_copy(ctx, org, owner, rep):
    shared = published(org, owner, "Reps", roles=["sales_rep"])
    third = DashboardWidget.objects.filter(dashboard=shared).order_by("position")[2]
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    mine = services.widget_counterpart(third, own)
    assert (mine.dashboard_id, mine.kind, mine.position) == (own.pk, third.kind, 2)


def test_add_widgets_of_the_catalogue_and_reports(ctx, org, owner, rep):
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    count = len(kinds(own))
    widget = services.widget_add(dashboard=own, actor=rep, kind="win_rate", period="this_year")
    assert (widget.position, widget.width, widget.period) == (count, 3, "this_year")
    report = make_report(org, owner, name="Pipeline by stage")
    added = services.widget_add(dashboard=own, actor=rep, kind="report", report=report)
    assert (added.kind, added.report, added.width, added.position) == (
        "report",
        report,
        6,
        count + 1,
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "tea_leaves"}, "kind", "Unknown widget “tea_leaves”."),
        ({"kind": "report"}, "report", "Choose a saved report."),
        ({"kind": "win_rate", "period": "someday"}, "period", None),
        ({"kind": "win_rate", "width": 5}, "width", None),
    ],
)
def test_bad_widgets_are_field_errors_and_add_nothing(ctx, org, rep, fields, field, message):
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    before = layout(own)
    with pytest.raises(ApplicationError) as caught:
        services.widget_add(dashboard=own, actor=rep, **fields)
    assert list(caught.value.errors) == [field]
    if message:
        assert caught.value.errors[field] == [message]
    assert layout(own) == before


def test_a_private_report_of_someone_else_cannot_be_a_widget(ctx, org, owner, rep):
    secret = make_report(org, owner, name="Owner's", visibility="private")
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    with pytest.raises(ApplicationError) as caught:
        services.widget_add(dashboard=own, actor=rep, kind="report", report=secret)
    assert caught.value.errors == {"report": ["Choose a report you may see."]}
    assert "report" not in kinds(own)


def test_reorder_puts_widgets_in_the_given_order(ctx, org, rep):
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    widgets = list(DashboardWidget.objects.filter(dashboard=own).order_by("position"))
    wanted = [widgets[2], widgets[0], widgets[1], *widgets[3:]]
    services.widgets_reorder(dashboard=own, actor=rep, ids=[w.pk for w in wanted])
    assert kinds(own) == [w.kind for w in wanted]


@pytest.mark.parametrize("mangle", ["drop_one", "twice", "foreign"])
def test_reorder_needs_every_widget_once(ctx, org, owner, rep, mangle):
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    ids = [w.pk for w in DashboardWidget.objects.filter(dashboard=own).order_by("position")]
    before = layout(own)
    if mangle == "drop_one":
        ids = ids[1:]
    elif mangle == "twice":
        ids = [ids[0], *ids[:-1]]
    else:
        theirs = services.dashboard_for_user(user=owner, org=org, for_edit=True)
        ids = [DashboardWidget.objects.filter(dashboard=theirs).first().pk, *ids[1:]]
    with pytest.raises(ApplicationError) as caught:
        services.widgets_reorder(dashboard=own, actor=rep, ids=list(reversed(ids)))
    assert caught.value.errors == {
        "ids": ["Send every widget of this dashboard once, in the new order."]
    }
    assert layout(own) == before


def test_a_rep_cannot_change_a_published_dashboard(ctx, org, owner, rep):
    shared = published(org, owner, "Reps", roles=["sales_rep"])
    before = layout(shared)
    widget = DashboardWidget.objects.filter(dashboard=shared).first()
    attempts = [
        lambda: services.widget_update(widget=widget, actor=rep, width=12),
        lambda: services.widget_remove(widget=widget, actor=rep),
        lambda: services.widget_add(dashboard=shared, actor=rep, kind="win_rate"),
        lambda: services.widgets_reorder(
            dashboard=shared,
            actor=rep,
            ids=[w.pk for w in reversed(widget.dashboard.widgets.all())],
        ),
        lambda: services.dashboard_update(dashboard=shared, actor=rep, name="Mine now"),
        lambda: services.dashboard_delete(dashboard=shared, actor=rep),
        lambda: services.dashboard_publish(dashboard=shared, actor=rep, name="X", roles=[]),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError):
            attempt()
    shared.refresh_from_db()
    assert (shared.name, shared.roles, shared.is_deleted) == ("Reps", ["sales_rep"], False)
    assert layout(shared) == before


def test_another_users_dashboard_is_not_changeable(ctx, org, owner, rep):
    theirs = services.dashboard_for_user(user=owner, org=org, for_edit=True)
    widget = DashboardWidget.objects.filter(dashboard=theirs).first()
    with pytest.raises(PermissionDeniedError):
        services.widget_update(widget=widget, actor=rep, width=12)
    widget.refresh_from_db()
    assert widget.width == 3


def test_reset_brings_back_the_published_dashboard(ctx, org, owner, rep):
    shared = published(org, owner, "Reps", roles=["sales_rep"])
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    services.widget_add(dashboard=own, actor=rep, kind="recent_changes")
    assert services.dashboard_reset(dashboard=own, actor=rep) == shared
    assert services.dashboard_for_user(user=rep, org=org) == shared
    assert not Dashboard.objects.filter(owner=rep).exists()


def test_admin_publishes_an_arrangement_to_roles_and_as_default(ctx, org, owner, admin_user):
    old_default = services.dashboard_for_user(user=owner, org=org)  # the organization default
    own = services.dashboard_for_user(user=admin_user, org=org, for_edit=True)
    first = DashboardWidget.objects.filter(dashboard=own).order_by("position").first()
    services.widget_remove(widget=first, actor=admin_user)
    services.widget_add(dashboard=own, actor=admin_user, kind="inactive_contacts")
    result = services.dashboard_publish(
        dashboard=own, actor=admin_user, name="Sales floor", roles=["sales_rep"], is_default=True
    )
    assert (result.name, result.roles, result.is_default, result.owner) == (
        "Sales floor",
        ["sales_rep"],
        True,
        None,
    )
    assert kinds(result) == kinds(own)
    assert kinds(result)[-1] == "inactive_contacts"
    old_default.refresh_from_db()
    assert old_default.is_default is False
    # publish again over it: its widgets are replaced, no second dashboard
    services.widget_remove(
        widget=DashboardWidget.objects.filter(dashboard=own, kind="inactive_contacts").get(),
        actor=admin_user,
    )
    again = services.dashboard_publish(
        dashboard=own, actor=admin_user, name="Sales floor", roles=["sales_rep"], target=result
    )
    assert again == result
    assert "inactive_contacts" not in kinds(result)
    assert kinds(result) == kinds(own)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"name": " ", "roles": []}, {"name": ["Give the dashboard a name."]}),
        ({"name": "X", "roles": ["pope"]}, {"roles": ["Unknown role “pope”."]}),
    ],
)
def test_publish_refuses_bad_input(ctx, org, owner, fields, errors):
    own = services.dashboard_for_user(user=owner, org=org, for_edit=True)
    before = Dashboard.objects.count()
    with pytest.raises(ApplicationError) as caught:
        services.dashboard_publish(dashboard=own, actor=owner, **fields)
    assert caught.value.errors == errors
    assert Dashboard.objects.count() == before


def test_scope_is_limited_by_what_the_role_may_see(ctx, org, owner, rep):
    north = make_team(org, "North", members=[rep])
    south = make_team(org, "South")
    own = services.dashboard_for_user(user=rep, org=org, for_edit=True)
    services.dashboard_set_scope(dashboard=own, actor=rep, scope="team", team=north)
    own.refresh_from_db()
    assert (own.scope, own.scope_team) == ("team", north)
    with pytest.raises(PermissionDeniedError):
        services.dashboard_set_scope(dashboard=own, actor=rep, scope="team", team=south)
    own.refresh_from_db()
    assert (own.scope, own.scope_team) == ("team", north)
    services.dashboard_set_scope(dashboard=own, actor=rep, scope="me", team=north)
    own.refresh_from_db()
    assert (own.scope, own.scope_team) == ("me", None)

"""Demo reports and dashboards for ``manage.py seed_demo``.

The ready-made reports; a few reports people built (a rep's private list of deals closing
this quarter, the manager's shared won revenue by rep and month, the admin's lead sources);
the manager's weekly PDF of it to the owner; a dashboard published to the sales reps and
managers; and the owner's own arrangement, whole-organization numbers with two report
widgets beside the metrics (everyone else sees the organization default, made from the
default layout the first time anyone opens it). Made through the services, inside the
seed's ``tenant_context``.
"""

from __future__ import annotations

import datetime


def seed(org, users, rng) -> None:
    from .services import (
        dashboard_for_user,
        dashboard_publish,
        dashboard_set_scope,
        report_create,
        report_ensure_defaults,
        schedule_create,
        widget_add,
        widget_update,
    )

    owner, manager, rep1 = users["owner"], users["manager"], users["rep1"]
    report_ensure_defaults(org=org, actor=owner)
    report_create(
        org=org,
        actor=rep1,
        name="My deals closing this quarter",
        description="Open deals with an expected close date this quarter, biggest first.",
        record_type="opportunities",
        filters=[
            {"field": "status", "op": "in", "value": ["open"]},
            {"field": "expected_close_date", "op": "period", "value": "this_quarter"},
            {"field": "assigned_to", "op": "in", "value": [str(rep1.pk)]},
        ],
        columns=["name", "company", "stage", "value", "expected_close_date"],
        ordering="-value",
        chart_type="table",
        visibility="private",
    )
    by_rep = report_create(
        org=org,
        actor=manager,
        name="Won revenue by rep and month",
        description="Revenue won this fiscal year, per rep and month.",
        record_type="opportunities",
        filters=[
            {"field": "status", "op": "in", "value": ["won"]},
            {"field": "actual_close_date", "op": "period", "value": "this_year"},
        ],
        group_by=[{"field": "actual_close_date", "period": "month"}, {"field": "assigned_to"}],
        aggregates=[{"fn": "sum", "field": "value"}, {"fn": "count"}],
        chart_type="bar",
        visibility="shared",
    )
    sources = report_create(
        org=org,
        actor=users["admin"],
        name="Where our leads come from",
        description="Leads created in the last 90 days by source.",
        record_type="leads",
        filters=[{"field": "created_at", "op": "period", "value": "last_90_days"}],
        group_by=[{"field": "source"}],
        aggregates=[{"fn": "count"}],
        chart_type="pie",
        visibility="shared",
    )
    schedule_create(
        report=by_rep,
        actor=manager,
        frequency="weekly",
        weekday=0,
        day_of_month=1,
        send_time=datetime.time(7, 30),
        format="pdf",
        recipients=[manager, owner],
    )

    # The reps' published dashboard: the default layout, published by the owner.
    published = dashboard_for_user(user=users["admin"], org=org, for_edit=True)
    dashboard_publish(
        dashboard=published,
        actor=users["admin"],
        name="Sales team",
        roles=["sales_rep", "manager"],
        teams=[],
    )

    # The owner's own arrangement: the metrics plus two reports, team-wide numbers.
    mine = dashboard_for_user(user=owner, org=org, for_edit=True)
    widget_add(
        dashboard=mine, actor=owner, kind="report", report=by_rep, width=8, period="this_year"
    )
    widget_add(dashboard=mine, actor=owner, kind="report", report=sources, width=4)
    widget_add(dashboard=mine, actor=owner, kind="leads_by_source", width=4, period="this_quarter")
    dashboard_set_scope(dashboard=mine, actor=owner, scope="org")
    first = mine.widgets.order_by("position").first()
    if first is not None:
        widget_update(widget=first, actor=owner, width=3)

"""Every change to reports, schedules and dashboards (DESIGN rule 3).

Each service is atomic, takes the acting user and validates through the model; report
definitions are validated by the engine (``validate_definition``) so the builder and the
API refuse the same things with the same messages.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext as _

from pulse.accounts.models import Role, Team
from pulse.accounts.permissions import membership_for
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import (
    check_same_org,
    full_clean_or_raise,
    record_create,
    record_delete,
    record_restore,
    record_update,
)

from .engine import ReportDefinition, validate_definition
from .models import (
    Dashboard,
    DashboardScope,
    DashboardWidget,
    DeliveryStatus,
    Report,
    ReportDelivery,
    ReportSchedule,
    ScheduleFrequency,
)
from .periods import PERIODS

# --- reports (H1) ----------------------------------------------------------------------------


def _definition_fields(org, fields: dict, base: Report | None = None) -> dict:
    """Validate the definition part of ``fields`` (merged over ``base``) through the engine."""
    names = ReportDefinition.__dataclass_fields__.keys()
    if not any(name in fields for name in names):
        return fields
    current = ReportDefinition.from_report(base) if base else ReportDefinition(record_type="")
    merged = {name: fields.get(name, getattr(current, name)) for name in names}
    definition = validate_definition(ReportDefinition(**merged), org=org)
    return {**fields, **definition.as_fields()}


@transaction.atomic
def report_create(*, org, actor, **fields) -> Report:
    """Save a report; the actor owns it unless ``owner`` is given."""
    fields.setdefault("owner", actor)
    fields = _definition_fields(org, fields)
    return record_create(Report, org=org, actor=actor, **fields)


@transaction.atomic
def report_update(*, report: Report, actor, expected_version: int | None = None, **fields):
    fields.pop("key", None)
    fields = _definition_fields(report.organization, fields, base=report)
    return record_update(report, actor=actor, expected_version=expected_version, **fields)


def report_delete(*, report: Report, actor) -> Report:
    return record_delete(report, actor=actor)


def report_restore(*, report: Report, actor) -> Report:
    return record_restore(report, actor=actor)


# Ready-made reports (report_ensure_defaults) (H1)


_WON = [{"field": "status", "op": "in", "value": ["won"]}]

# key → (name, description, definition fields); names and descriptions are translated
# when an organization's reports are created.
READY_MADE_REPORTS: dict[str, tuple[str, str, dict]] = {
    "sales_by_rep": (
        gettext_noop("Sales performance by rep"),
        gettext_noop("Won deals per owner: how many, their total value and average size."),
        {
            "record_type": "opportunities",
            "filters": _WON,
            "group_by": [{"field": "assigned_to"}],
            "aggregates": [
                {"fn": "count"},
                {"fn": "sum", "field": "value"},
                {"fn": "avg", "field": "value"},
            ],
            "ordering": "-sum:value",
            "chart_type": "bar",
        },
    ),
    "pipeline_by_stage": (
        gettext_noop("Pipeline by stage"),
        gettext_noop("Open deals in each stage: how many and their total value."),
        {
            "record_type": "opportunities",
            "filters": [{"field": "status", "op": "in", "value": ["open"]}],
            "group_by": [{"field": "stage"}],
            "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "value"}],
            "chart_type": "funnel",
        },
    ),
    "conversion_funnel": (
        gettext_noop("Lead conversion funnel"),
        gettext_noop("Leads in each stage, from new to converted."),
        {
            "record_type": "leads",
            "group_by": [{"field": "stage"}],
            "aggregates": [{"fn": "count"}],
            "chart_type": "funnel",
        },
    ),
    "revenue_by_month": (
        gettext_noop("Revenue by month"),
        gettext_noop("Value of the deals won each month over the last year."),
        {
            "record_type": "opportunities",
            "filters": [
                *_WON,
                {"field": "actual_close_date", "op": "period", "value": "last_365_days"},
            ],
            "group_by": [{"field": "actual_close_date", "period": "month"}],
            "aggregates": [{"fn": "sum", "field": "value"}, {"fn": "count"}],
            "chart_type": "line",
        },
    ),
    "lead_source_effectiveness": (
        gettext_noop("Lead source effectiveness"),
        gettext_noop("Leads per source, split by status: how many of each source were converted."),
        {
            "record_type": "leads",
            "group_by": [{"field": "source"}, {"field": "status"}],
            "aggregates": [{"fn": "count"}, {"fn": "avg", "field": "score"}],
            "chart_type": "bar",
        },
    ),
    "activity_report": (
        gettext_noop("Activity report"),
        gettext_noop("Activities of the last 30 days by type and owner."),
        {
            "record_type": "activities",
            "filters": [{"field": "occurred_at", "op": "period", "value": "last_30_days"}],
            "group_by": [{"field": "assigned_to"}, {"field": "type"}],
            "aggregates": [{"fn": "count"}],
            "chart_type": "bar",
        },
    ),
    "win_loss": (
        gettext_noop("Win/loss"),
        gettext_noop("Closed deals won and lost, with the reasons deals were lost."),
        {
            "record_type": "opportunities",
            "filters": [{"field": "status", "op": "in", "value": ["won", "lost"]}],
            "group_by": [{"field": "status"}, {"field": "loss_reason"}],
            "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "value"}],
            "chart_type": "pie",
        },
    ),
    "customer_lifetime_value": (
        gettext_noop("Customer lifetime value"),
        gettext_noop("Revenue won per company, year by year."),
        {
            "record_type": "opportunities",
            "filters": _WON,
            "group_by": [{"field": "company"}, {"field": "actual_close_date", "period": "year"}],
            "aggregates": [{"fn": "sum", "field": "value"}, {"fn": "count"}],
            "chart_type": "table",
        },
    ),
}


def report_ensure_defaults(*, org, actor=None) -> list[Report]:
    """The organization's ready-made reports, created (shared, no owner) the first time;
    idempotent by ``key``, and safe when two requests race (the unique key wins)."""
    existing = {
        report.key: report
        for report in Report.objects.unscoped().filter(
            organization=org, deleted_at__isnull=True, key__in=list(READY_MADE_REPORTS)
        )
    }
    out = []
    for key, (name, description, definition) in READY_MADE_REPORTS.items():
        report = existing.get(key)
        if report is None:
            try:
                with transaction.atomic():
                    report = report_create(
                        org=org,
                        actor=actor,
                        owner=None,
                        key=key,
                        name=gettext(name),
                        description=gettext(description),
                        visibility="shared",
                        **definition,
                    )
            except IntegrityError:  # created meanwhile by a concurrent request
                report = Report.objects.unscoped().get(
                    organization=org, deleted_at__isnull=True, key=key
                )
        out.append(report)
    return out


# --- schedules and deliveries (H3) ------------------------------------------------------------


schedules_logger = logging.getLogger("pulse.reports.schedules")

# Schedules claimed per pass of the beat task (the rest wait five minutes).
SCHEDULE_CLAIM_LIMIT = 200
SKIP_LEFT = "no longer a member of the organization"
SKIP_DEACTIVATED = "account deactivated"


def _skip_reason(user, member_ids: set) -> str:
    """Why ``user`` gets no report (empty: they do). The reasons are stored untranslated
    and shown through ``gettext`` (see ``skip_reason_label``)."""
    if not user.is_active:
        return SKIP_DEACTIVATED
    if user.pk not in member_ids:
        return SKIP_LEFT
    return ""


def skip_reason_label(reason: str) -> str:
    labels = {
        SKIP_LEFT: _("no longer a member of the organization"),
        SKIP_DEACTIVATED: _("account deactivated"),
    }
    return labels.get(reason, reason)


def _member_ids(org, user_ids) -> set:
    from pulse.accounts.models import Membership

    return set(
        Membership.objects.unscoped()
        .filter(organization=org, deleted_at__isnull=True, user_id__in=list(user_ids))
        .values_list("user_id", flat=True)
    )


def _check_recipients(org, recipients) -> list:
    """Recipients must be active members of ``org`` (a field error otherwise)."""
    recipients = list(recipients or [])
    if not recipients:
        raise ApplicationError(errors={"recipients": [_("Choose at least one recipient.")]})
    members = _member_ids(org, [u.pk for u in recipients])
    strangers = [str(u) for u in recipients if _skip_reason(u, members)]
    if strangers:
        raise ApplicationError(
            errors={
                "recipients": [
                    _("Not an active member of this organization: %(names)s.")
                    % {"names": ", ".join(strangers)}
                ]
            }
        )
    return recipients


def schedule_next_run(schedule: ReportSchedule, after: datetime.datetime) -> datetime.datetime:
    """The first moment strictly after ``after`` when ``schedule`` is due, in UTC.

    ``send_time`` is wall-clock time in the organization's time zone, so a daily report at
    07:00 stays at 07:00 across daylight-saving changes (its UTC time moves). A time that
    does not exist on a spring-forward day runs at the same offset as before the change
    (02:30 → 03:30); an ambiguous autumn time runs once, at its first occurrence. Weekly
    runs on ``weekday`` (0 = Monday); monthly on ``day_of_month`` (1–28, in every month)."""
    from .periods import org_zone

    zone = org_zone(schedule.organization)
    send_time = schedule.send_time
    if isinstance(send_time, str):
        send_time = datetime.time.fromisoformat(send_time)
    day = timezone.localtime(after, zone).date()
    if schedule.frequency == ScheduleFrequency.MONTHLY:
        day = day.replace(day=schedule.day_of_month)
    elif schedule.frequency == ScheduleFrequency.WEEKLY:
        day += datetime.timedelta(days=(schedule.weekday - day.weekday()) % 7)
    for _attempt in range(3):
        candidate = datetime.datetime.combine(day, send_time, tzinfo=zone).astimezone(datetime.UTC)
        if candidate > after:
            return candidate
        if schedule.frequency == ScheduleFrequency.MONTHLY:
            day = (day.replace(day=1) + datetime.timedelta(days=32)).replace(
                day=schedule.day_of_month
            )
        elif schedule.frequency == ScheduleFrequency.WEEKLY:
            day += datetime.timedelta(days=7)
        else:
            day += datetime.timedelta(days=1)
    raise AssertionError("unreachable: the next period's run is always later")  # pragma: no cover


def _check_report_visible(report, actor) -> None:
    from .models import Report

    if not Report.objects.restrict(actor, "view").filter(pk=report.pk).exists():
        raise PermissionDeniedError(_("You cannot schedule a report you may not see."))


@transaction.atomic
def schedule_create(
    *,
    report,
    actor,
    frequency: str = ScheduleFrequency.WEEKLY,
    weekday: int = 0,
    day_of_month: int = 1,
    send_time=datetime.time(7, 0),
    format: str = "pdf",  # noqa: A002 - the model's field name
    recipients=(),
    active: bool = True,
) -> ReportSchedule:
    """Email ``report`` to ``recipients`` (active members) on a rhythm; the report runs as
    ``actor`` (the creator) with their visibility. ``next_run_at`` is set from now."""
    org = report.organization
    _check_report_visible(report, actor)
    recipients = _check_recipients(org, recipients)
    schedule = ReportSchedule(
        organization=org,
        report=report,
        frequency=frequency,
        weekday=weekday,
        day_of_month=day_of_month,
        send_time=send_time,
        format=format,
        active=active,
    )
    fields = {
        "report": report,
        "frequency": frequency,
        "weekday": weekday,
        "day_of_month": day_of_month,
        "send_time": send_time,
        "format": format,
        "active": active,
        "recipients": recipients,
    }
    # Validate first, so a bad weekday is a field error rather than a crash below.
    full_clean_or_raise(schedule, exclude=["recipients"])
    fields["next_run_at"] = schedule_next_run(schedule, timezone.now()) if active else None
    return record_create(ReportSchedule, org=org, actor=actor, **fields)


TIMING_FIELDS = ("frequency", "weekday", "day_of_month", "send_time", "active")


@transaction.atomic
def schedule_update(
    *, schedule: ReportSchedule, actor, expected_version: int | None = None, **fields
) -> ReportSchedule:
    """Change a schedule; a new rhythm (or re-activation) recomputes ``next_run_at``."""
    fields.pop("report", None)  # a schedule stays with its report
    for name in ("next_run_at", "last_run_at", "last_status", "last_message"):
        fields.pop(name, None)
    if "recipients" in fields:
        fields["recipients"] = _check_recipients(schedule.organization, fields["recipients"])
    # Compared with the stored row: a bound ModelForm may already have set the new values
    # on this instance.
    stored = ReportSchedule.objects.unscoped().filter(pk=schedule.pk).values(*TIMING_FIELDS).get()
    retime = any(name in fields and fields[name] != stored[name] for name in TIMING_FIELDS)
    schedule = record_update(schedule, actor=actor, expected_version=expected_version, **fields)
    if retime:
        next_run = schedule_next_run(schedule, timezone.now()) if schedule.active else None
        ReportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=next_run)
        schedule.next_run_at = next_run
    return schedule


def schedule_delete(*, schedule: ReportSchedule, actor) -> ReportSchedule:
    """Move a schedule to the trash (it stops sending)."""
    return record_delete(schedule, actor=actor)


def schedules_claim_due(now: datetime.datetime | None = None, *, limit: int = SCHEDULE_CLAIM_LIMIT):
    """Take the schedules due at ``now`` across organizations: ``[(org_id, schedule_id,
    run_at)]``.

    Each claim is a conditional UPDATE that moves ``next_run_at`` to the following run
    ``WHERE next_run_at = <the value read>``: of two workers racing for a schedule, only
    one matches the row, so a run is sent once. The claim happens before sending, so a
    worker that dies mid-send loses that run (at-most-once: a missed report is better
    than a stream of duplicates to a whole team)."""
    now = now or timezone.now()
    manager = ReportSchedule.objects.unscoped()
    due = list(
        manager.filter(
            active=True,
            deleted_at__isnull=True,
            next_run_at__lte=now,
            report__deleted_at__isnull=True,
        )
        .select_related("organization")
        .order_by("next_run_at")[:limit]
    )
    claimed = []
    for schedule in due:
        ran_for = schedule.next_run_at
        following = schedule_next_run(schedule, max(now, ran_for))
        taken = manager.filter(pk=schedule.pk, next_run_at=ran_for, active=True).update(
            next_run_at=following
        )
        if taken:
            claimed.append((schedule.organization_id, schedule.pk, ran_for))
    return claimed


def _finish(schedule, *, now, status, message, sent_to=(), skipped=(), rows=0) -> ReportDelivery:
    """The delivery row and the schedule's last status (one run, one row)."""
    delivery = ReportDelivery.objects.create(
        organization_id=schedule.organization_id,
        schedule=schedule,
        ran_at=now,
        status=status,
        sent_to=list(sent_to),
        skipped=list(skipped),
        rows=rows,
        message=message,
    )
    ReportSchedule.objects.filter(pk=schedule.pk).update(
        last_run_at=now, last_status=status, last_message=message
    )
    schedule.last_run_at, schedule.last_status, schedule.last_message = now, status, message
    return delivery


def _email(schedule, recipient, attachment, *, now) -> object:
    """The message for one recipient, in their language."""
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    report = schedule.report
    with translation.override(getattr(recipient, "language", "") or settings.LANGUAGE_CODE):
        context = {
            "schedule": schedule,
            "report": report,
            "recipient": recipient,
            "organization": schedule.organization,
            "ran_at": timezone.localtime(now, _zone(schedule)),
            "rows": attachment.rows,
            "url": settings.SITE_URL + report.get_absolute_url(),
            "frequency": schedule.get_frequency_display(),
        }
        subject = render_to_string("reports/email_schedule_subject.txt", context).strip()
        text = render_to_string("reports/email_schedule.txt", context)
        html = render_to_string("reports/email_schedule.html", context)
    message = EmailMultiAlternatives(
        " ".join(subject.split()), text, settings.DEFAULT_FROM_EMAIL, [recipient.email]
    )
    message.attach_alternative(html, "text/html")
    message.attach(attachment.filename, attachment.content, attachment.content_type)
    return message


def _zone(schedule):
    from .periods import org_zone

    return org_zone(schedule.organization)


def _send_after_commit(messages: list) -> None:
    def send() -> None:
        from django.core.mail import get_connection

        connection = get_connection()
        for message in messages:
            message.connection = connection
            try:
                message.send()
            except Exception:  # one refused address must not stop the others
                schedules_logger.exception(
                    "scheduled report email failed", extra={"to": message.to}
                )

    transaction.on_commit(send)


@transaction.atomic
def schedule_send(schedule: ReportSchedule, now: datetime.datetime | None = None) -> ReportDelivery:
    """Run the schedule's report as its creator (their visibility) and email the export
    to each recipient who is still an active member; record a ``ReportDelivery``.

    A creator who left skips the run; a report that can no longer run (``ReportError``: a
    deleted field …) fails with its message and the creator is told in the app. The
    emails go out after the delivery row commits (rule 6). Call it in the organization's
    tenant context (the task does)."""
    from pulse.accounts.selectors import live_membership
    from pulse.extras.services import notify

    from .engine import ReportError
    from .exports import render_export

    now = now or timezone.now()
    org = schedule.organization
    report = schedule.report
    creator = schedule.created_by
    # Uncached: the creator may have left since this process last looked.
    if creator is None or live_membership(creator, org) is None:
        return _finish(
            schedule,
            now=now,
            status=DeliveryStatus.SKIPPED,
            message=_(
                "Not sent: the person who scheduled this report is no longer a member of "
                "the organization. Someone who may see the report should schedule it again."
            ),
        )
    try:
        attachment = render_export(report, schedule.format, user=creator, org=org)
    except ReportError as exc:
        message = _("The report could not run: %(reason)s") % {"reason": exc.message}
        delivery = _finish(schedule, now=now, status=DeliveryStatus.FAILED, message=message)
        notify(
            org=org,
            recipient=creator,
            verb=_("Scheduled report “%(name)s” failed") % {"name": report.name},
            body=message,
            url=report.get_absolute_url(),
        )
        return delivery
    except Exception:  # a renderer bug must not leave the run without a trace
        schedules_logger.exception(
            "scheduled report could not be rendered", extra={"schedule_id": str(schedule.pk)}
        )
        return _finish(
            schedule,
            now=now,
            status=DeliveryStatus.FAILED,
            message=_("The report could not be rendered. It will be tried again at the next run."),
        )
    recipients = list(schedule.recipients.all().order_by("email"))
    members = _member_ids(org, [u.pk for u in recipients])
    outgoing, sent_to, skipped = [], [], []
    for recipient in recipients:
        reason = _skip_reason(recipient, members)
        if reason:
            skipped.append({"email": recipient.email, "reason": reason})
            continue
        outgoing.append(_email(schedule, recipient, attachment, now=now))
        sent_to.append(recipient.email)
    if not sent_to:
        status = DeliveryStatus.SKIPPED
        message = _("Not sent: none of the recipients is still an active member.")
    elif skipped:
        status = DeliveryStatus.PARTIAL
        message = _("Sent to %(sent)s; skipped %(skipped)s.") % {
            "sent": len(sent_to),
            "skipped": ", ".join(
                f"{item['email']} ({skip_reason_label(item['reason'])})" for item in skipped
            ),
        }
    else:
        status = DeliveryStatus.SENT
        message = _("Sent to %(count)s recipients.") % {"count": len(sent_to)}
    delivery = _finish(
        schedule,
        now=now,
        status=status,
        message=message,
        sent_to=sent_to,
        skipped=skipped,
        rows=attachment.rows,
    )
    if outgoing:
        _send_after_commit(outgoing)
    return delivery


# --- dashboards and widgets (H5) --------------------------------------------------------------


WIDGET_FIELDS = ("width", "height", "period", "title", "options")


def _is_admin(actor, org) -> bool:
    membership = membership_for(actor, org)
    return membership is not None and membership.is_admin


def _check_may_change(dashboard: Dashboard, actor) -> None:
    """Own dashboard: its owner. Published one: admins only (``PermissionDeniedError``)."""
    if dashboard.owner_id is not None and dashboard.owner_id == actor.pk:
        return
    if dashboard.owner_id is None and _is_admin(actor, dashboard.organization):
        return
    raise PermissionDeniedError(_("Only an admin may change a published dashboard."))


def _widgets_of(dashboard: Dashboard) -> list[DashboardWidget]:
    return list(
        DashboardWidget.objects.unscoped()
        .filter(dashboard_id=dashboard.pk, deleted_at__isnull=True)
        .order_by("position", "created_at")
    )


def _published(org):
    return Dashboard.objects.unscoped().filter(
        organization=org, owner__isnull=True, deleted_at__isnull=True
    )


def published_dashboard_for(*, user, org) -> Dashboard | None:
    """The published dashboard that applies to ``user``: one published to one of their
    teams (the narrower audience wins), else to their role, else the organization default."""
    membership = membership_for(user, org)
    candidates = list(_published(org).prefetch_related("teams").order_by("name", "created_at"))
    if membership is None or not candidates:
        return None
    team_ids = set(
        Team.objects.unscoped()
        .filter(organization=org, deleted_at__isnull=True, members=user)
        .values_list("pk", flat=True)
    )
    for dashboard in candidates:
        if team_ids & {team.pk for team in dashboard.teams.all()}:
            return dashboard
    for dashboard in candidates:
        if membership.role in (dashboard.roles or []):
            return dashboard
    return next((d for d in candidates if d.is_default), None)


def _check_period(period: str, field: str = "period") -> None:
    if period not in PERIODS:
        raise ApplicationError(
            errors={
                field: [_("Choose one of the periods: %(known)s.") % {"known": ", ".join(PERIODS)}]
            }
        )


def _default_dashboard(*, org, actor) -> Dashboard:
    """The organization default, made from ``DEFAULT_LAYOUT`` the first time anyone looks."""
    from .metrics import DEFAULT_LAYOUT, WIDGETS

    try:
        with transaction.atomic():
            dashboard = record_create(
                Dashboard, org=org, actor=actor, name=_("Dashboard"), is_default=True
            )
            for position, (kind, width, period) in enumerate(DEFAULT_LAYOUT):
                if kind not in WIDGETS:
                    continue  # a widget the catalogue no longer has
                record_create(
                    DashboardWidget,
                    org=org,
                    actor=actor,
                    dashboard=dashboard,
                    kind=kind,
                    width=width,
                    period=period,
                    position=position,
                )
    except (IntegrityError, ApplicationError):
        # Someone else made the default at the same moment (the unique constraint).
        dashboard = _published(org).filter(is_default=True).first()
        if dashboard is None:
            raise
    return dashboard


def _copy_widgets(source: Dashboard, target: Dashboard, *, actor) -> None:
    for position, widget in enumerate(_widgets_of(source)):
        record_create(
            DashboardWidget,
            org=target.organization,
            actor=actor,
            dashboard=target,
            kind=widget.kind,
            report=widget.report,
            title=widget.title,
            position=position,
            width=widget.width,
            height=widget.height,
            period=widget.period,
            options=dict(widget.options or {}),
        )


@transaction.atomic
def dashboard_for_user(*, user, org, for_edit: bool = False) -> Dashboard:
    """The dashboard ``user`` sees: their own; else the published one for their team or
    role; else the organization default (made from ``DEFAULT_LAYOUT`` if there is none).

    ``for_edit``: a user with no own dashboard gets a copy of what they see (copy on write,
    ``source`` remembers the original), so arranging never changes a published dashboard.
    """
    own = (
        Dashboard.objects.unscoped()
        .filter(organization=org, owner=user, deleted_at__isnull=True)
        .select_related("scope_team")
        .first()
    )
    if own is not None:
        return own
    seen = published_dashboard_for(user=user, org=org) or _default_dashboard(org=org, actor=user)
    if not for_edit:
        return seen
    try:
        with transaction.atomic():
            own = record_create(
                Dashboard,
                org=org,
                actor=user,
                name=_("My dashboard"),
                owner=user,
                source=seen,
                scope=seen.scope,
                scope_team=seen.scope_team,
            )
            _copy_widgets(seen, own, actor=user)
    except (IntegrityError, ApplicationError):
        # A second tab made the copy first (one own dashboard per user).
        own = (
            Dashboard.objects.unscoped()
            .filter(organization=org, owner=user, deleted_at__isnull=True)
            .first()
        )
        if own is None:
            raise
    return own


def widget_counterpart(widget: DashboardWidget, dashboard: Dashboard) -> DashboardWidget | None:
    """The widget of ``dashboard`` that stands where ``widget`` stood in the dashboard it was
    copied from (so a change to a published widget lands on the user's fresh copy)."""
    if widget.dashboard_id == dashboard.pk:
        return widget
    if dashboard.source_id != widget.dashboard_id:
        return None
    originals = [w.pk for w in _widgets_of(widget.dashboard)]
    copies = _widgets_of(dashboard)
    if widget.pk not in originals:
        return None
    index = originals.index(widget.pk)
    return copies[index] if index < len(copies) and copies[index].kind == widget.kind else None


@transaction.atomic
def widget_add(
    *,
    dashboard: Dashboard,
    actor,
    kind: str,
    report=None,
    width: int | None = None,
    period: str | None = None,
    options: dict | None = None,
    title: str = "",
) -> DashboardWidget:
    """Add a widget at the end of ``dashboard``: a metric of ``WIDGETS`` or ``kind="report"``
    with a saved report the actor may view."""
    from .metrics import WIDGETS

    _check_may_change(dashboard, actor)
    org = dashboard.organization
    if kind == "report":
        if report is None:
            raise ApplicationError(errors={"report": [_("Choose a saved report.")]})
        check_same_org(org, report=report)
        if not Report.objects.restrict(actor, "view").filter(pk=report.pk).exists():
            raise ApplicationError(errors={"report": [_("Choose a report you may see.")]})
        default_width, default_period = 6, "this_month"
    elif kind in WIDGETS:
        spec = WIDGETS[kind]
        report = None
        default_width, default_period = spec.default_width, spec.default_period
    else:
        raise ApplicationError(
            errors={"kind": [_("Unknown widget “%(kind)s”.") % {"kind": str(kind)[:40]}]}
        )
    period = period or default_period
    _check_period(period)
    positions = [w.position for w in _widgets_of(dashboard)]
    return record_create(
        DashboardWidget,
        org=org,
        actor=actor,
        dashboard=dashboard,
        kind=kind,
        report=report,
        title=title or "",
        width=width or default_width,
        period=period,
        options=options or {},
        position=max(positions, default=-1) + 1,
    )


@transaction.atomic
def widget_update(
    *, widget: DashboardWidget, actor, expected_version: int | None = None, **fields
) -> DashboardWidget:
    """Change a widget's ``width``, ``height``, ``period``, ``title`` or ``options``."""
    _check_may_change(widget.dashboard, actor)
    unknown = set(fields) - set(WIDGET_FIELDS)
    if unknown:
        raise ApplicationError(
            errors={name: [_("This cannot be changed here.")] for name in sorted(unknown)}
        )
    fields = {name: value for name, value in fields.items() if value is not None}
    if "period" in fields:
        _check_period(fields["period"])
    if "options" in fields and not isinstance(fields["options"], dict):
        raise ApplicationError(errors={"options": [_("Options are an object of settings.")]})
    return record_update(widget, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def widget_remove(*, widget: DashboardWidget, actor) -> DashboardWidget:
    """Take a widget off its dashboard (to the trash, like every delete)."""
    _check_may_change(widget.dashboard, actor)
    return record_delete(widget, actor=actor)


@transaction.atomic
def widgets_reorder(*, dashboard: Dashboard, actor, ids) -> list[DashboardWidget]:
    """Put the widgets in the order of ``ids`` (each of the dashboard's widgets once)."""
    _check_may_change(dashboard, actor)
    widgets = {str(w.pk): w for w in _widgets_of(dashboard)}
    wanted = [str(i) for i in ids]
    if sorted(wanted) != sorted(widgets) or len(set(wanted)) != len(wanted):
        raise ApplicationError(
            errors={"ids": [_("Send every widget of this dashboard once, in the new order.")]}
        )
    result = []
    for position, pk in enumerate(wanted):
        widget = widgets[pk]
        if widget.position != position:
            widget = record_update(widget, actor=actor, position=position)
        result.append(widget)
    return result


@transaction.atomic
def dashboard_reset(*, dashboard: Dashboard, actor) -> Dashboard:
    """Drop the actor's own arrangement: they see what is published for them again."""
    _check_may_change(dashboard, actor)
    if dashboard.is_published:
        raise ApplicationError(_("A published dashboard has nothing to reset to."))
    for widget in _widgets_of(dashboard):
        record_delete(widget, actor=actor)
    record_delete(dashboard, actor=actor)
    return dashboard_for_user(user=actor, org=dashboard.organization)


@transaction.atomic
def dashboard_delete(*, dashboard: Dashboard, actor) -> Dashboard:
    """Delete a dashboard and its widgets (to the trash): the owner their own (a reset),
    an admin a published one (its audience falls back to the next that applies)."""
    _check_may_change(dashboard, actor)
    for widget in _widgets_of(dashboard):
        record_delete(widget, actor=actor)
    return record_delete(dashboard, actor=actor)


def _publish_fields(org, *, roles, teams, is_default, name) -> dict:
    roles = list(dict.fromkeys(roles or []))
    bad = [r for r in roles if r not in Role.values]
    if bad:
        raise ApplicationError(
            errors={"roles": [_("Unknown role “%(role)s”.") % {"role": str(bad[0])[:40]}]}
        )
    teams = list(teams or [])
    for team in teams:
        check_same_org(org, teams=team)
    name = (name or "").strip()
    if not name:
        raise ApplicationError(errors={"name": [_("Give the dashboard a name.")]})
    return {"roles": roles, "teams": teams, "is_default": bool(is_default), "name": name}


def _clear_default(org, *, actor, keep=None) -> None:
    for other in _published(org).filter(is_default=True):
        if keep is None or other.pk != keep.pk:
            record_update(other, actor=actor, is_default=False)


@transaction.atomic
def dashboard_create(
    *, org, actor, name: str, roles=(), teams=(), is_default: bool = False
) -> Dashboard:
    """A new published dashboard with the default layout (admins only)."""
    from .metrics import DEFAULT_LAYOUT, WIDGETS

    if not _is_admin(actor, org):
        raise PermissionDeniedError(_("Only an admin may publish dashboards."))
    fields = _publish_fields(org, roles=roles, teams=teams, is_default=is_default, name=name)
    if fields["is_default"]:
        _clear_default(org, actor=actor)
    dashboard = record_create(Dashboard, org=org, actor=actor, **fields)
    layout = [row for row in DEFAULT_LAYOUT if row[0] in WIDGETS]
    for position, (kind, width, period) in enumerate(layout):
        record_create(
            DashboardWidget,
            org=org,
            actor=actor,
            dashboard=dashboard,
            kind=kind,
            width=width,
            period=period,
            position=position,
        )
    return dashboard


@transaction.atomic
def dashboard_update(
    *, dashboard: Dashboard, actor, expected_version: int | None = None, **fields
) -> Dashboard:
    """Rename an own dashboard; an admin also sets a published one's audience."""
    _check_may_change(dashboard, actor)
    org = dashboard.organization
    if not dashboard.is_published:
        unknown = set(fields) - {"name"}
        if unknown:
            raise ApplicationError(
                errors={n: [_("Only published dashboards have this.")] for n in sorted(unknown)}
            )
    if dashboard.is_published and set(fields) & {"roles", "teams", "is_default", "name"}:
        merged = _publish_fields(
            org,
            roles=fields.get("roles", dashboard.roles),
            teams=fields.get("teams", list(dashboard.teams.all())),
            is_default=fields.get("is_default", dashboard.is_default),
            name=fields.get("name", dashboard.name),
        )
        fields = {name: merged[name] for name in fields if name in merged}
        if fields.get("is_default"):
            _clear_default(org, actor=actor, keep=dashboard)
    return record_update(dashboard, actor=actor, expected_version=expected_version, **fields)


@transaction.atomic
def dashboard_publish(
    *,
    dashboard: Dashboard,
    actor,
    roles=(),
    teams=(),
    is_default: bool = False,
    name: str,
    target: Dashboard | None = None,
) -> Dashboard:
    """Publish the admin's arrangement ``dashboard``: as a new published dashboard, or over
    ``target`` (a published one: its widgets are replaced). Admins only.

    Publishing a published dashboard itself only changes its audience and name."""
    org = dashboard.organization
    if not _is_admin(actor, org):
        raise PermissionDeniedError(_("Only an admin may publish dashboards."))
    fields = _publish_fields(org, roles=roles, teams=teams, is_default=is_default, name=name)
    if dashboard.is_published:
        target = dashboard
    if target is not None:
        check_same_org(org, target=target)
        if not target.is_published or target.is_deleted:
            raise ApplicationError(errors={"target": [_("Choose a published dashboard.")]})
    if fields["is_default"]:
        _clear_default(org, actor=actor, keep=target)
    if target is None:
        target = record_create(Dashboard, org=org, actor=actor, scope=dashboard.scope, **fields)
    else:
        target = record_update(target, actor=actor, **fields)
    if target.pk != dashboard.pk:
        for widget in _widgets_of(target):
            record_delete(widget, actor=actor)
        _copy_widgets(dashboard, target, actor=actor)
    return target


@transaction.atomic
def dashboard_set_scope(*, dashboard: Dashboard, actor, scope: str, team=None) -> Dashboard:
    """Whose numbers the dashboard shows (me · a team · the whole organization), as far as
    the actor's role allows (``dashboard_context`` decides; ``PermissionDeniedError``)."""
    from .metrics import dashboard_context

    _check_may_change(dashboard, actor)
    if scope not in DashboardScope.values:
        raise ApplicationError(errors={"scope": [_("Choose me, a team or the organization.")]})
    org = dashboard.organization
    if scope == DashboardScope.TEAM:
        if team is None:
            raise ApplicationError(errors={"scope_team": [_("Choose a team.")]})
        check_same_org(org, scope_team=team)
    else:
        team = None
    dashboard_context(user=actor, org=org, scope=scope, team=team)
    return record_update(dashboard, actor=actor, scope=scope, scope_team=team)

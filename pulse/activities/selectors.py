"""Activities: selectors (see DESIGN.md for this file's role)."""

from __future__ import annotations

import base64
import binascii
import datetime
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import memoized

from .models import (
    Activity,
    ActivityChecklistItem,
    ActivityStatus,
    ActivityTemplate,
    ActivityType,
    CallOutcome,
)

# --- activities ---

# Imports of this section (the lead hoists them).


# What a list row and the API list join (owner and the records it concerns).
ACTIVITY_LIST_SELECT_RELATED = ("assigned_to", "contact", "company", "lead", "opportunity")
ACTIVITY_DETAIL_SELECT_RELATED = (*ACTIVITY_LIST_SELECT_RELATED, "created_by", "follow_up_of")
ACTIVITY_SEARCH_FIELDS = ("subject",)


def overdue_condition(now: datetime.datetime | None = None) -> Q:
    """Pending activities whose due day has passed, or (with no due day) whose start has
    passed: the list's "overdue only" filter, the reports' overdue count and the API's."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    return Q(status=ActivityStatus.PENDING) & (
        Q(due_date__lt=today) | Q(due_date__isnull=True, scheduled_at__lt=now)
    )


def overdue_total(qs, now: datetime.datetime | None = None) -> int:
    """How many of ``qs`` match ``overdue_condition(now)``, counting its two halves apart:
    each is an index-only scan of its partial index (``act_org_due_pending`` and
    ``act_org_sched_pending``; for given owners ``act_org_user_due`` and
    ``act_org_user_sched_pending``), where the OR made a bitmap heap scan over every
    pending activity (2 s at 5,000,000 activities, organization-wide)."""
    now = now or timezone.now()
    pending = qs.filter(status=ActivityStatus.PENDING).order_by()
    return (
        pending.filter(due_date__lt=timezone.localdate(now)).count()
        + pending.filter(due_date__isnull=True, scheduled_at__lt=now).count()
    )


def activity_checklist(activity: Activity) -> list[ActivityChecklistItem]:
    """A task's checklist lines in their order."""
    return list(
        ActivityChecklistItem.objects.filter(activity_id=activity.pk).order_by(
            "position", "created_at"
        )
    )


def activity_follow_ups(activity: Activity) -> list[Activity]:
    """Activities scheduled when this one was completed (that the reader may see is the
    caller's business: the queryset is not restricted here)."""
    return list(
        Activity.objects.filter(follow_up_of_id=activity.pk)
        .only("id", "subject", "type", "status", "occurred_at")
        .order_by("occurred_at")
    )


def activity_templates_for(user) -> QuerySet[ActivityTemplate]:
    return ActivityTemplate.objects.restrict(user, "view").order_by("name")


# --- reports --------------------------------------------------------------------------


@dataclass
class ActivityReport:
    """Activities of a period and scope, counted in SQL: per owner and type, by status,
    overdue now, and calls by outcome."""

    start: datetime.date
    end: datetime.date
    types: list[tuple[str, str]]
    # [{"user_id", "name", "counts": {type: n}, "total", "completed"}] busiest first
    per_user: list[dict] = field(default_factory=list)
    per_type: dict[str, int] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    pending: int = 0
    cancelled: int = 0
    overdue: int = 0
    calls_by_outcome: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def completion_rate(self) -> float | None:
        """Completed among those not cancelled, in percent (None with nothing to do)."""
        base = self.completed + self.pending
        return round(100 * self.completed / base, 1) if base else None

    def as_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "total": self.total,
            "completed": self.completed,
            "pending": self.pending,
            "cancelled": self.cancelled,
            "overdue": self.overdue,
            "completion_rate": self.completion_rate,
            "per_type": self.per_type,
            "per_user": self.per_user,
            "calls_by_outcome": [
                {"outcome": key, "label": label, "count": n}
                for key, label, n in self.calls_by_outcome
            ],
        }


def activity_report(
    *, user, start: datetime.date, end: datetime.date, user_ids=None
) -> ActivityReport:
    """The report of activities dated ``start``–``end`` (whole days, inclusive) that
    ``user`` may see, of the owners in ``user_ids`` (None: everyone visible)."""
    from pulse.accounts.models import User

    tz = timezone.get_current_timezone()
    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=tz)
    until = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz
    )
    qs = Activity.objects.restrict(user, "view").filter(
        occurred_at__gte=since, occurred_at__lt=until
    )
    if user_ids is not None:
        qs = qs.filter(assigned_to_id__in=user_ids)
    report = ActivityReport(start=start, end=end, types=list(ActivityType.choices))

    rows = qs.order_by().values("assigned_to_id", "type", "status").annotate(n=Count("pk"))
    users: dict = {}
    for row in rows:
        n = row["n"]
        report.total += n
        status = row["status"]
        setattr(report, status, getattr(report, status) + n)
        report.per_type[row["type"]] = report.per_type.get(row["type"], 0) + n
        entry = users.setdefault(
            row["assigned_to_id"],
            {
                "user_id": row["assigned_to_id"],
                "name": "",
                "counts": {},
                "total": 0,
                "completed": 0,
            },
        )
        entry["counts"][row["type"]] = entry["counts"].get(row["type"], 0) + n
        entry["total"] += n
        if status == ActivityStatus.COMPLETED:
            entry["completed"] += n
    names = dict(
        User.objects.filter(pk__in=[k for k in users if k is not None]).values_list(
            "pk", "full_name"
        )
    )
    for key, entry in users.items():
        entry["name"] = names.get(key) or ("" if key is None else str(key))
        for value, _label in ActivityType.choices:
            entry["counts"].setdefault(value, 0)
    report.per_user = sorted(users.values(), key=lambda e: (-e["total"], e["name"]))
    for value, _label in ActivityType.choices:
        report.per_type.setdefault(value, 0)

    report.overdue = qs.filter(overdue_condition()).count()

    outcomes = dict(
        qs.filter(type=ActivityType.CALL, status=ActivityStatus.COMPLETED)
        .order_by()
        .values("call_outcome")
        .annotate(n=Count("pk"))
        .values_list("call_outcome", "n")
    )
    report.calls_by_outcome = [
        (value, str(label), outcomes.get(value, 0)) for value, label in CallOutcome.choices
    ]
    if outcomes.get(""):
        from django.utils.translation import gettext

        report.calls_by_outcome.append(("", gettext("Not recorded"), outcomes[""]))
    return report


# --- timeline ---


# What a timeline can show, in the order the filter chips list them.
TIMELINE_TYPES = ("note", "call", "meeting", "task", "email", "stage", "field")
TIMELINE_ACTIVITY_TYPES = ("note", "call", "meeting", "task", "email")


def timeline_type_labels() -> dict[str, str]:
    """Each timeline type's name on chips, in the CSV and the API (translated)."""
    from django.utils.translation import gettext as _

    return {
        "note": _("Notes"),
        "call": _("Calls"),
        "meeting": _("Meetings"),
        "task": _("Tasks"),
        "email": _("Emails"),
        "stage": _("Stage changes"),
        "field": _("Field changes"),
    }


TIMELINE_PAGE = 25
TIMELINE_MAX_PAGE = 100
# What one call of ``timeline`` reads at most per source (exports read pages of 500).
_TIMELINE_HARD_MAX = 500
# A page whose audit rows are all left out (told by stage changes) reads on from there;
# after this many rounds it returns what it has with a cursor (never unbounded).
_TIMELINE_ROUNDS = 4
# Sources in the tie-break order of the cursor (time, source, id), all descending.
_SRC_ACTIVITY, _SRC_STAGE, _SRC_AUDIT = 0, 1, 2


class TimelineCursorError(ValueError):
    """A ``cursor`` that this code did not write."""


def timeline_record_types() -> dict[str, type]:
    """The record types that have a timeline, by their short name in URLs and the API."""
    from pulse.contacts.models import Company, Contact
    from pulse.leads.models import Lead
    from pulse.opportunities.models import Opportunity

    return {"contact": Contact, "company": Company, "lead": Lead, "opportunity": Opportunity}


def timeline_record_model(record_type: str):
    """The model named ``record_type`` (``contact`` or ``contacts.contact``), or None."""
    record_type = (record_type or "").strip().lower()
    for name, model in timeline_record_types().items():
        if record_type in (name, model._meta.label_lower):
            return model
    return None


def timeline_record_type_of(record) -> str:
    return next(n for n, m in timeline_record_types().items() if isinstance(record, m))


def timeline_record(*, user, record_type: str, pk):
    """The live record whose timeline ``user`` asks for, if they may view it; else None."""
    model = timeline_record_model(record_type)
    if model is None:
        return None
    try:
        pk = model._meta.pk.to_python(pk)
    except Exception:  # noqa: BLE001 - not an id of this model: no such record
        return None
    return model.objects.restrict(user, "view").filter(pk=pk).first()


@dataclass
class TimelineEntry:
    """One line of a timeline: an activity, a stage move or a change from the audit log.

    ``kind`` is one of ``TIMELINE_TYPES``; exactly one of ``activity``, ``stage_change``
    and ``audit_entry`` is set."""

    kind: str
    occurred_at: datetime.datetime
    id: uuid.UUID
    source: int
    actor: Any = None
    activity: Activity | None = None
    stage_change: Any = None
    audit_entry: Any = None
    # On a company's timeline: the contact or deal the line concerns (None: the company).
    concerns: Any = None

    @property
    def key(self) -> tuple:
        return (self.occurred_at, self.source, self.id)

    @property
    def cursor(self) -> str:
        return encode_timeline_cursor(self.key)

    @property
    def is_future(self) -> bool:
        return self.occurred_at > timezone.now()

    @property
    def subject(self) -> str:
        from django.utils.translation import gettext as _

        if self.activity is not None:
            return self.activity.subject
        if self.stage_change is not None:
            change = self.stage_change
            if change.from_stage_id:
                return _("Moved from %(from)s to %(to)s") % {
                    "from": change.from_stage.name if change.from_stage else "—",
                    "to": change.to_stage.name,
                }
            return _("Created in %(stage)s") % {"stage": change.to_stage.name}
        entry = self.audit_entry
        return f"{entry.get_action_display()}: {entry.object_repr}"

    @property
    def summary(self) -> str:
        """One plain-text line of what it says (CSV and API)."""
        from django.utils.html import strip_tags
        from django.utils.translation import gettext as _

        if self.activity is not None:
            a = self.activity
            parts = []
            if a.type == "call" and a.call_outcome:
                parts.append(a.get_call_outcome_display())
            if a.type == "meeting" and (a.location or a.video_url):
                parts.append(a.location or a.video_url)
            if a.type == "task" and a.due_date:
                parts.append(_("due %(date)s") % {"date": a.due_date.isoformat()})
            text = strip_tags(a.description or a.notes or "").strip()
            if text:
                parts.append(" ".join(text.split())[:500])
            return " · ".join(parts)
        if self.stage_change is not None:
            return self.stage_change.notes or ""
        return "; ".join(f"{r.label}: {r.old} → {r.new}" for r in self.audit_entry.change_rows)

    @property
    def details(self) -> dict:
        """The kind's own facts, JSON-ready (the API's ``details``)."""
        if self.activity is not None:
            a = self.activity
            data = {"type": a.type, "status": a.status, "priority": a.priority}
            if a.type == "call":
                data.update(direction=a.call_direction, outcome=a.call_outcome)
                data["duration_minutes"] = a.duration_minutes
            if a.type == "meeting":
                data.update(
                    scheduled_at=a.scheduled_at.isoformat() if a.scheduled_at else None,
                    duration_minutes=a.duration_minutes,
                    all_day=a.all_day,
                    location=a.location,
                    video_url=a.video_url,
                )
            if a.type == "task":
                data["due_date"] = a.due_date.isoformat() if a.due_date else None
                data["is_overdue"] = a.is_overdue
            if a.type == "email":
                data.update(email_from=a.email_from, email_to=a.email_to)
            data["description"] = a.description
            data["notes"] = a.notes
            return data
        if self.stage_change is not None:
            c = self.stage_change
            return {
                "from_stage": c.from_stage.name if c.from_stage else None,
                "to_stage": c.to_stage.name,
                "notes": c.notes,
                "reason": getattr(c, "reason", ""),
            }
        e = self.audit_entry
        return {
            "action": e.action,
            "source": e.source,
            "changes": [{"field": r.field, "old": r.old, "new": r.new} for r in e.change_rows],
        }


@dataclass
class TimelinePage:
    entries: list[TimelineEntry] = field(default_factory=list)
    next_cursor: str | None = None


def encode_timeline_cursor(key: tuple) -> str:
    when, source, pk = key
    raw = f"{when.astimezone(datetime.UTC).isoformat()}|{source}|{pk.hex}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_timeline_cursor(cursor: str) -> tuple:
    """``(occurred_at, source, id)`` of a cursor; ``TimelineCursorError`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when_text, source_text, pk_text = raw.split("|")
        when = parse_datetime(when_text)
        source = int(source_text)
        pk = uuid.UUID(hex=pk_text)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise TimelineCursorError(str(exc)) from exc
    if when is None or when.tzinfo is None or source not in (0, 1, 2):
        raise TimelineCursorError("not a timeline cursor")
    return (when, source, pk)


def parse_timeline_types(values) -> tuple[str, ...] | None:
    """Requested types (a list, comma-separated allowed); None for all. ValueError if unknown."""
    wanted = []
    for value in values or []:
        wanted += [v.strip().lower() for v in str(value).split(",") if v.strip()]
    unknown = [v for v in wanted if v not in TIMELINE_TYPES]
    if unknown:
        raise ValueError(", ".join(unknown))
    return tuple(t for t in TIMELINE_TYPES if t in wanted) or None


def _after(qs, time_field: str, source: int, before: tuple | None):
    """Rows strictly after ``before`` in (time, source, id) descending order."""
    if before is None:
        return qs
    when, cursor_source, pk = before
    if source < cursor_source:
        return qs.filter(**{f"{time_field}__lte": when})
    if source > cursor_source:
        return qs.filter(**{f"{time_field}__lt": when})
    # The range keeps the index usable; the OR breaks ties on the same instant.
    return qs.filter(**{f"{time_field}__lte": when}).filter(
        Q(**{f"{time_field}__lt": when}) | Q(**{time_field: when, "id__lt": pk})
    )


def _activity_rows(record, user, types, before, n):
    from pulse.contacts.models import Company

    kinds = [t for t in TIMELINE_ACTIVITY_TYPES if types is None or t in types]
    if not kinds:
        return [], False
    link = timeline_record_type_of(record)
    qs = Activity.objects.restrict(user, "view").filter(**{f"{link}_id": record.pk})
    if len(kinds) < len(TIMELINE_ACTIVITY_TYPES):
        qs = qs.filter(type__in=kinds)
    related = ["created_by", "assigned_to"]
    if isinstance(record, Company):
        related += ["contact", "opportunity"]
    qs = _after(qs, "occurred_at", _SRC_ACTIVITY, before)
    rows = list(qs.select_related(*related).order_by("-occurred_at", "-id")[:n])
    entries = []
    for a in rows:
        concerns = None
        if isinstance(record, Company):
            concerns = a.opportunity or a.contact
        entries.append(
            TimelineEntry(
                kind=a.type,
                occurred_at=a.occurred_at,
                id=a.pk,
                source=_SRC_ACTIVITY,
                actor=a.created_by or a.assigned_to,
                activity=a,
                concerns=concerns,
            )
        )
    return entries, len(rows) == n


def _stage_rows(record, user, types, before, n):
    from pulse.contacts.models import Company
    from pulse.leads.models import Lead, LeadStageChange
    from pulse.opportunities.models import Opportunity, OpportunityStageChange

    if types is not None and "stage" not in types:
        return [], False
    if isinstance(record, Lead):
        qs = LeadStageChange.objects.filter(lead_id=record.pk)
    elif isinstance(record, Opportunity):
        qs = OpportunityStageChange.objects.filter(opportunity_id=record.pk)
    elif isinstance(record, Company):
        # The page's ids first, from the narrow (opportunity, changed_at) index rows of
        # the company's deals, then those rows with their joins: sorting every change of
        # a big company's deals joined to the deals and stages was most of its timeline's
        # time (see bench/notes/activities.md, plan 3).
        deals = Opportunity.objects.restrict(user, "view").filter(company_id=record.pk)
        page = OpportunityStageChange.objects.filter(opportunity_id__in=deals.values("pk"))
        page = _after(page, "changed_at", _SRC_STAGE, before)
        page = page.order_by("-changed_at", "-id").values("pk")[:n]
        qs = OpportunityStageChange.objects.filter(pk__in=page).select_related("opportunity")
    else:
        return [], False
    if not isinstance(record, Company):
        qs = _after(qs, "changed_at", _SRC_STAGE, before)
    rows = list(
        qs.select_related("from_stage", "to_stage", "changed_by").order_by("-changed_at", "-id")[:n]
    )
    entries = [
        TimelineEntry(
            kind="stage",
            occurred_at=c.changed_at,
            id=c.pk,
            source=_SRC_STAGE,
            actor=c.changed_by,
            stage_change=c,
            concerns=c.opportunity if isinstance(record, Company) else None,
        )
        for c in rows
    ]
    return entries, len(rows) == n


def _told_by_stage_change(record, entry) -> bool:
    """A stage move is told once, by its stage-change row (as the History tab does)."""
    from pulse.leads.models import Lead
    from pulse.leads.selectors import _STAGE_MOVE_FIELDS as LEAD_MOVE_FIELDS
    from pulse.opportunities.models import Opportunity
    from pulse.opportunities.selectors import _STAGE_MOVE_FIELDS as DEAL_MOVE_FIELDS

    if isinstance(record, Lead):
        move_fields = LEAD_MOVE_FIELDS
    elif isinstance(record, Opportunity):
        if entry.action == "create":
            return True  # its first stage-change row tells it, with the stage it began in
        move_fields = DEAL_MOVE_FIELDS
    else:
        return False
    changed = {k for k in (entry.changes or {}) if not k.startswith("_")}
    return entry.action == "update" and bool(changed) and changed <= move_fields


def _audit_rows(record, user, types, before, n):
    from pulse.audit.models import AuditEntry

    if types is not None and "field" not in types:
        return [], None
    content_type = ContentType.objects.get_for_model(type(record), for_concrete_model=False)
    qs = AuditEntry.objects.filter(content_type=content_type, object_id=str(record.pk))
    qs = _after(qs, "created_at", _SRC_AUDIT, before)
    rows = list(qs.select_related("actor").order_by("-created_at", "-id")[:n])
    for row in rows:
        row.content_type = content_type  # one model for all rows: no join, no query
    kept = [r for r in rows if not _told_by_stage_change(record, r)]
    entries = [
        TimelineEntry(
            kind="field",
            occurred_at=e.created_at,
            id=e.pk,
            source=_SRC_AUDIT,
            actor=e.actor,
            audit_entry=e,
        )
        for e in kept
    ]
    # Rows left out still bound the page: the next unread row comes after the last read.
    floor = (rows[-1].created_at, _SRC_AUDIT, rows[-1].pk) if len(rows) == n else None
    return entries, floor


def timeline(record, *, user, types=None, before=None, limit: int = TIMELINE_PAGE) -> TimelinePage:
    """A record's timeline, newest first: its activities (all types; on a company those
    of its contacts and deals too, which the services file under the company), stage
    moves (a lead's; a deal's; a company's deals') and field changes from the audit log.

    Keyset pagination on (time, source, id): ``before`` is a cursor (string or decoded
    key) from ``TimelinePage.next_cursor``. Each source is one indexed query with
    ``LIMIT limit + 1``, merged here; nothing is counted, nothing OFFSET. ``types``
    narrows to some of ``TIMELINE_TYPES``. Activities are those ``user`` may view.
    """
    from pulse.audit.changes import prepare_entries
    from pulse.core.tenancy import get_current_org

    limit = max(1, min(int(limit), _TIMELINE_HARD_MAX))
    if isinstance(before, str):
        before = decode_timeline_cursor(before) if before else None
    n = limit + 1
    found: list[TimelineEntry] = []
    cursor = before
    for _round in range(_TIMELINE_ROUNDS):
        floors = []
        batch = []
        for source in (_activity_rows, _stage_rows):
            entries, maybe_more = source(record, user, types, cursor, n)
            batch += entries
            if maybe_more:
                floors.append(entries[-1].key)
        entries, audit_floor = _audit_rows(record, user, types, cursor, n)
        batch += entries
        if audit_floor is not None:
            floors.append(audit_floor)
        batch.sort(key=lambda e: e.key, reverse=True)
        # Past the highest floor a source may have unread rows: stop there.
        floor = max(floors) if floors else None
        if floor is not None:
            batch = [e for e in batch if e.key >= floor]
        found += batch
        if len(found) > limit or floor is None:
            break
        cursor = floor
    page = found[:limit]
    if len(found) > limit:
        next_cursor = page[-1].cursor
    elif floor is not None:
        next_cursor = encode_timeline_cursor(floor)
    else:
        next_cursor = None
    audit = [e.audit_entry for e in page if e.audit_entry is not None]
    if audit:
        prepare_entries(audit, org=get_current_org(), link_records=False)
    return TimelinePage(entries=page, next_cursor=next_cursor)


def timeline_iter(record, *, user, types=None, max_entries: int = 50_000, page: int = 500):
    """Every entry of a timeline, newest first, page by page (exports), at most
    ``max_entries``."""
    cursor = None
    sent = 0
    while sent < max_entries:
        result = timeline(
            record, user=user, types=types, before=cursor, limit=min(page, max_entries - sent)
        )
        yield from result.entries
        sent += len(result.entries)
        if not result.next_cursor:
            return
        cursor = result.next_cursor


# --- timeline display ---
#
# The timeline partial renders 25 entries on every record page: what it shows is worked
# out here once per page (labels translated once, URLs from one reversed pattern, dates
# formatted in Python) so the template only prints strings. Rendering through per-entry
# includes, ``{% url %}``, ``get_*_display`` and ``timesince`` cost ~1.5 ms an entry.

_ICONS = {
    "note": "bi-sticky",
    "call": "bi-telephone",
    "meeting": "bi-people",
    "task": "bi-check2-square",
    "email": "bi-envelope",
    "stage": "bi-signpost-split",
    "field": "bi-pencil-square",
}
_URL_ID = "00000000-0000-4000-8000-00000000c0de"


class _UrlPatterns:
    """``get_absolute_url`` of many records from one reverse per model: the URL of the
    first record with its id swapped for a marker, then filled in for the others (a model
    whose URL does not hold its id is asked every time)."""

    def __init__(self):
        self._patterns: dict[type, str | None] = {}

    def of(self, obj) -> str:
        if obj is None:
            return ""
        model = type(obj)
        pattern = self._patterns.get(model, "")
        if pattern == "":
            url = obj.get_absolute_url()
            pk = str(obj.pk)
            pattern = url.replace(pk, _URL_ID) if url.count(pk) == 1 else None
            self._patterns[model] = pattern
            return url
        if pattern is None:
            return obj.get_absolute_url()
        return pattern.replace(_URL_ID, str(obj.pk))


def _display_labels() -> dict[str, str]:
    """The words the timeline repeats on every entry, translated once per page."""
    from django.utils.translation import gettext as _

    return {
        "system": _("System"),
        "done": _("Done"),
        "overdue": _("Overdue"),
        "all_day": _("all day"),
        "types": {k: str(v) for k, v in ActivityType.choices},
        "statuses": {k: str(v) for k, v in ActivityStatus.choices},
        "outcomes": {k: str(v) for k, v in CallOutcome.choices},
        "directions": {
            k: str(v) for k, v in Activity._meta.get_field("call_direction").choices or ()
        },
        "priorities": {k: str(v) for k, v in Activity._meta.get_field("priority").choices or ()},
    }


class _PagePlurals(dict):
    """``timesince``'s unit strings ("3 days"), each count translated once per page."""

    class _Unit:
        def __init__(self, lazy):
            self.lazy, self.done = lazy, {}

        def __mod__(self, values):
            num = values["num"]
            if num not in self.done:
                self.done[num] = str(self.lazy % values)
            return self.done[num]

    def __init__(self):
        from django.utils.timesince import TIME_STRINGS

        super().__init__({name: self._Unit(lazy) for name, lazy in TIME_STRINGS.items()})


def _when(moment, now, formats) -> dict:
    """A moment as the timeline prints it: ISO for ``datetime=``, the full date and time
    for the tooltip, and "3 hours ago" / "in 2 days"."""
    from django.utils import dateformat
    from django.utils.timesince import timesince, timeuntil
    from django.utils.translation import gettext as _

    local = timezone.localtime(moment)
    plurals = formats["plurals"]
    if moment > now:
        text = _("in %(when)s") % {"when": timeuntil(moment, now, time_strings=plurals)}
    else:
        text = _("%(when)s ago") % {"when": timesince(moment, now, time_strings=plurals)}
    return {
        "iso": local.isoformat(),
        "title": dateformat.format(local, formats["DATETIME_FORMAT"]),
        "text": text,
    }


def _activity_display(entry, a, labels, urls, formats, now, today) -> dict:
    from django.utils import dateformat
    from django.utils.text import Truncator
    from django.utils.translation import gettext as _
    from django.utils.translation import ngettext

    status = a.status
    pending = status == ActivityStatus.PENDING
    overdue = False
    if pending:
        if a.due_date is not None:
            overdue = a.due_date < today
        elif a.scheduled_at is not None:
            overdue = a.ends_at < now
    if status == ActivityStatus.COMPLETED and a.type != ActivityType.NOTE:
        badge = ("bg-success-subtle text-success-emphasis", labels["done"])
    elif status == ActivityStatus.CANCELLED:
        badge = ("text-bg-secondary", labels["statuses"].get(status, status))
    elif overdue:
        badge = ("text-bg-danger", labels["overdue"])
    elif pending and a.type != ActivityType.NOTE:
        badge = ("bg-warning-subtle text-warning-emphasis", labels["statuses"].get(status, status))
    else:
        badge = None
    row = {
        "subject": a.subject,
        "url": urls.of(a),
        "type_label": labels["types"].get(a.type, a.type),
        "badge": badge,
        "priority": labels["priorities"].get(a.priority, a.priority)
        if a.priority in ("high", "urgent")
        else "",
        "for_name": "",
        "completable": pending and a.type not in (ActivityType.NOTE, ActivityType.EMAIL),
        "overdue": overdue,
        "description": a.description,
        "notes": a.notes,
    }
    if a.assigned_to_id and a.assigned_to_id != a.created_by_id:
        row["for_name"] = _("for %(name)s") % {"name": a.assigned_to}
    if a.type == ActivityType.CALL:
        call = {
            "direction": labels["directions"].get(a.call_direction, "") if a.call_direction else "",
            "inbound": a.call_direction == "inbound",
            "outcome": labels["outcomes"].get(a.call_outcome, a.call_outcome),
            "minutes": "",
        }
        if a.duration_minutes:
            call["minutes"] = ngettext(
                "%(minutes)s minute", "%(minutes)s minutes", a.duration_minutes
            ) % {"minutes": a.duration_minutes}
        row["call"] = call
    elif a.type == ActivityType.MEETING:
        when = ""
        if a.scheduled_at is not None:
            start = timezone.localtime(a.scheduled_at)
            day = dateformat.format(start, formats["DATE_FORMAT"])
            if a.all_day:
                when = f"{day} ({labels['all_day']})"
            else:
                end = timezone.localtime(a.ends_at)
                when = "{}, {}–{}".format(
                    day,
                    dateformat.time_format(start, formats["TIME_FORMAT"]),
                    dateformat.time_format(end, formats["TIME_FORMAT"]),
                )
        row["meeting"] = {"when": when, "location": a.location, "video_url": a.video_url}
    elif a.type == ActivityType.TASK and a.due_date:
        row["due"] = _("Due %(date)s") % {
            "date": dateformat.format(a.due_date, formats["DATE_FORMAT"])
        }
    elif a.type == ActivityType.EMAIL and a.email_from:
        row["email"] = f"{a.email_from} → {Truncator(a.email_to).chars(120)}"
    return row


def timeline_display(entries, *, now=None) -> list[dict]:
    """What the timeline partial prints for each entry, as plain dicts of strings (one
    pass, no queries: the selector has joined what the lines name)."""
    from django.utils.formats import get_format
    from django.utils.translation import gettext as _

    now = now or timezone.now()
    today = timezone.localdate(now)
    labels = _display_labels()
    formats = {name: get_format(name) for name in ("DATE_FORMAT", "DATETIME_FORMAT", "TIME_FORMAT")}
    formats["plurals"] = _PagePlurals()
    urls = _UrlPatterns()
    rows = []
    for entry in entries:
        row = {
            "kind": entry.kind,
            "icon": _ICONS.get(entry.kind, "bi-pencil-square"),
            "actor": str(entry.actor) if entry.actor else labels["system"],
            "when": _when(entry.occurred_at, now, formats),
            "concerns": str(entry.concerns) if entry.concerns is not None else "",
            "concerns_url": urls.of(entry.concerns),
            "activity_id": "",
            "cancelled": False,
        }
        if entry.activity is not None:
            a = entry.activity
            row["activity_id"] = str(a.pk)
            row["cancelled"] = a.status == ActivityStatus.CANCELLED
            row.update(_activity_display(entry, a, labels, urls, formats, now, today))
        elif entry.stage_change is not None:
            change = entry.stage_change
            if change.from_stage_id:
                text = _("moved it from %(from)s to %(to)s") % {
                    "from": change.from_stage.name if change.from_stage else "—",
                    "to": change.to_stage.name,
                }
            else:
                text = _("created it in %(to)s") % {"to": change.to_stage.name}
            row["stage"] = {
                "text": text,
                "reason": getattr(change, "reason", ""),
                "notes": change.notes,
            }
        else:
            audit = entry.audit_entry
            row["audit"] = {
                "action": audit.get_action_display().lower(),
                "object_repr": audit.object_repr,
                "source": audit.get_source_display(),
                "changes": audit.change_rows,
            }
        rows.append(row)
    return rows


# --- calendar and iCalendar ---


# A calendar request covers at most this many days (FullCalendar's month view asks for
# six weeks) and returns at most this many events: the page stays fast whatever the data.
CALENDAR_MAX_DAYS = 62
CALENDAR_MAX_EVENTS = 1000
# What the calendar shows: things that happen at a time (notes and emails are history).
CALENDAR_TYPES = (ActivityType.MEETING, ActivityType.CALL, ActivityType.TASK)
# The private feed: from this far back to this far ahead, at most this many events.
FEED_DAYS_BACK = 90
FEED_DAYS_AHEAD = 365
FEED_MAX_EVENTS = 5000
# Roles that may open someone else's or a team's calendar (shared calendars).
SHARED_CALENDAR_ROLES = ("owner", "admin", "manager")


def _moment(value: str, name: str) -> datetime.datetime:
    """A window bound as FullCalendar sends it: a date, or a date-time with or without
    an offset (a naive one is in the organization's time zone)."""
    value = (value or "").strip().replace(" ", "+")  # a "+02:00" offset sent unencoded
    parsed = None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is not None:
                parsed = datetime.datetime.combine(day, datetime.time())
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApplicationError(errors={name: [gettext("Give a date or a date and time.")]})
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def calendar_window(start: str, end: str) -> tuple[datetime.datetime, datetime.datetime]:
    """The validated [start, end) of a calendar request (at most ``CALENDAR_MAX_DAYS``)."""
    begin, finish = _moment(start, "start"), _moment(end, "end")
    if finish <= begin:
        raise ApplicationError(errors={"end": [gettext("The end must come after the start.")]})
    if finish - begin > datetime.timedelta(days=CALENDAR_MAX_DAYS):
        raise ApplicationError(
            errors={
                "end": [
                    gettext("Ask for at most %(days)d days at a time.")
                    % {"days": CALENDAR_MAX_DAYS}
                ]
            }
        )
    return begin, finish


@dataclass
class CalendarScope:
    """Whose calendar is shown: the signed-in user's, a member's, or a team's."""

    user_ids: list
    label: str
    user: object = None
    team: object = None


def can_share_calendars(user) -> bool:
    from pulse.accounts.permissions import membership_for

    membership = membership_for(user)
    return membership is not None and membership.role in SHARED_CALENDAR_ROLES


def calendar_scope(user, org, *, user_id: str = "", team_id: str = "") -> CalendarScope:
    """Resolve ``?user=``/``?team=``: a user sees their own calendar; owners, admins and
    managers may open a member's or a team's. What they see of it is still limited by
    record visibility (``restrict``)."""
    from pulse.accounts.models import Team
    from pulse.accounts.selectors import organization_members

    if not user_id and not team_id or user_id == str(user.pk):
        return CalendarScope(user_ids=[user.pk], label=str(user), user=user)
    if not can_share_calendars(user):
        raise PermissionDeniedError(gettext("Only managers and admins can open others' calendars."))
    if team_id:
        try:
            team = Team.objects.prefetch_related("members").get(pk=team_id)
        except (Team.DoesNotExist, ValueError, ValidationError):
            raise ApplicationError(errors={"team": [gettext("Choose one of the teams.")]})
        ids = {m.pk for m in team.members.all()}
        if team.manager_id:
            ids.add(team.manager_id)
        return CalendarScope(user_ids=sorted(ids), label=team.name, team=team)
    try:
        member = organization_members(org).get(pk=user_id)
    except (
        ValueError,
        TypeError,
        ValidationError,
        organization_members(org).model.DoesNotExist,
    ):
        raise ApplicationError(errors={"user": [gettext("Choose a member of this organization.")]})
    return CalendarScope(user_ids=[member.pk], label=str(member), user=member)


# What the calendar reads of an activity (not its rich text, notes or email fields).
CALENDAR_FIELDS = (
    "id",
    "type",
    "status",
    "subject",
    "scheduled_at",
    "all_day",
    "duration_minutes",
    "due_date",
    "version",
    "location",
    "contact_id",
    "assigned_to__full_name",
    "assigned_to__email",
)


def calendar_activities(
    user, *, user_ids, start, end, limit: int | None = None
) -> tuple[list, bool]:
    """The activities on ``user_ids``' calendars between ``start`` and ``end`` that
    ``user`` may see: scheduled ones (read through the (org, assigned_to, scheduled_at)
    index) and open tasks with only a due date (the open-tasks index). Returns the rows
    (at most ``limit``, default ``CALENDAR_MAX_EVENTS``) and whether there were more.

    Only ``CALENDAR_FIELDS`` are read. The contacts the events name come in a second
    query by id: joining them made PostgreSQL hash the whole contacts table (22 ms at
    10,000 contacts, growing with the table) for a few hundred rows."""
    from pulse.contacts.models import Contact

    limit = CALENDAR_MAX_EVENTS if limit is None else limit
    base = (
        Activity.objects.restrict(user, "view")
        .filter(assigned_to_id__in=list(user_ids), type__in=CALENDAR_TYPES)
        .select_related("assigned_to")
        .only(*CALENDAR_FIELDS)
    )
    # An all-day activity is stored at its day's start; a meeting that began the evening
    # before still shows: look a day back.
    scheduled = list(
        base.filter(
            scheduled_at__gte=start - datetime.timedelta(days=1), scheduled_at__lt=end
        ).order_by("scheduled_at", "pk")[: limit + 1]
    )
    scheduled = [a for a in scheduled if a.ends_at > start]
    start_day = timezone.localtime(start).date()
    end_day = timezone.localtime(end).date()
    due = list(
        base.filter(
            status=ActivityStatus.PENDING,
            scheduled_at__isnull=True,
            due_date__gte=start_day,
            due_date__lte=end_day,
        ).order_by("due_date", "pk")[: limit + 1]
    )
    rows = (scheduled + due)[: limit + 1]
    contact_ids = {a.contact_id for a in rows if a.contact_id}
    if contact_ids:
        # By id from this organization's activities: trashed contacts keep their name
        # on the calendar, as the join did.
        contacts = {
            c.pk: c
            for c in Contact.objects.unscoped()
            .filter(pk__in=contact_ids)
            .only("id", "first_name", "last_name", "email")
        }
        cache = Activity._meta.get_field("contact")
        for a in rows:
            if a.contact_id:
                cache.set_cached_value(a, contacts.get(a.contact_id))
    return rows[:limit], len(rows) > limit


class CalendarUrls:
    """An activity's page and move URLs from one ``reverse`` each per request."""

    def __init__(self):
        from django.urls import reverse

        marker = uuid.UUID(_URL_ID)
        self.page = reverse("activities:activity_detail", args=[marker])
        self.move = reverse("activities:calendar_move", args=[marker])

    def __call__(self, activity) -> dict:
        pk = str(activity.pk)
        return {"url": self.page.replace(_URL_ID, pk), "move": self.move.replace(_URL_ID, pk)}


def calendar_event(activity, *, editable: bool, urls, now=None, today=None) -> dict:
    """One activity as a FullCalendar event (also the API's calendar entry). ``urls``
    gives ``{"url", "move"}`` of an activity; ``now`` and ``today`` (the caller's, once
    for all events) decide "overdue". Empty ``contact``, ``location`` and ``assignedTo``
    are left out."""
    scheduled_at = activity.scheduled_at
    if scheduled_at is None:
        start, end, all_day = activity.due_date.isoformat(), None, True
        ends_at = None
    elif activity.all_day:
        day = timezone.localtime(scheduled_at).date()
        start, end, all_day = day.isoformat(), (day + datetime.timedelta(days=1)).isoformat(), True
        ends_at = scheduled_at + datetime.timedelta(days=1)
    else:
        ends_at = scheduled_at + datetime.timedelta(minutes=activity.duration_minutes or 30)
        start = timezone.localtime(scheduled_at).isoformat()
        end = timezone.localtime(ends_at).isoformat()
        all_day = False
    status = activity.status
    pending = status == ActivityStatus.PENDING
    classes = [f"ev-{activity.type}", f"ev-{status}"]
    if pending:
        now = now or timezone.now()
        if activity.due_date is not None:
            overdue = activity.due_date < (today or timezone.localdate(now))
        else:
            overdue = ends_at is not None and ends_at < now
        if overdue:
            classes.append("ev-overdue")
    links = urls(activity)
    props = {
        "type": activity.type,
        "status": status,
        "version": activity.version,
        "moveUrl": links["move"],
        "dueOnly": scheduled_at is None,
    }
    if activity.assigned_to_id:
        props["assignedTo"] = str(activity.assigned_to)
    if activity.contact_id and activity.contact is not None:
        props["contact"] = str(activity.contact)
    if activity.location:
        props["location"] = activity.location
    return {
        "id": str(activity.pk),
        "title": activity.subject,
        "start": start,
        "end": end,
        "allDay": all_day,
        "editable": editable and pending,
        "classNames": classes,
        "url": links["url"],
        "extendedProps": props,
    }


def calendar_events(activities, *, editable: bool) -> list[dict]:
    """``calendar_event`` of many activities, sharing the URL patterns and the clock."""
    urls = CalendarUrls()
    now = timezone.now()
    today = timezone.localdate(now)
    return [
        calendar_event(a, editable=editable, urls=urls, now=now, today=today) for a in activities
    ]


def feed_activities(feed) -> list:
    """What a private feed serves: its user's visible activities from ``FEED_DAYS_BACK``
    days ago to ``FEED_DAYS_AHEAD`` ahead, scheduled and due-only tasks, capped."""
    now = timezone.now()
    start = now - datetime.timedelta(days=FEED_DAYS_BACK)
    end = now + datetime.timedelta(days=FEED_DAYS_AHEAD)
    base = Activity.objects.restrict(feed.user, "view").filter(
        assigned_to_id=feed.user_id, type__in=CALENDAR_TYPES
    )
    scheduled = list(
        base.filter(scheduled_at__gte=start, scheduled_at__lt=end).order_by("scheduled_at", "pk")[
            :FEED_MAX_EVENTS
        ]
    )
    room = FEED_MAX_EVENTS - len(scheduled)
    due = []
    if room > 0:
        due = list(
            base.filter(
                status=ActivityStatus.PENDING,
                scheduled_at__isnull=True,
                due_date__gte=start.date(),
                due_date__lte=end.date(),
            ).order_by("due_date", "pk")[:room]
        )
    return scheduled + due


def feed_fingerprint(feed) -> tuple[int, object]:
    """(how many, last change) of the feed's activities: its ETag and Last-Modified, in
    one aggregate query, so an unchanged feed answers 304 without building anything."""
    now = timezone.now()
    start = now - datetime.timedelta(days=FEED_DAYS_BACK)
    end = now + datetime.timedelta(days=FEED_DAYS_AHEAD)
    from django.db.models import Q

    row = (
        Activity.objects.restrict(feed.user, "view")
        .filter(assigned_to_id=feed.user_id, type__in=CALENDAR_TYPES)
        .filter(
            Q(scheduled_at__gte=start, scheduled_at__lt=end)
            | Q(
                status=ActivityStatus.PENDING,
                scheduled_at__isnull=True,
                due_date__gte=start.date(),
                due_date__lte=end.date(),
            )
        )
        .aggregate(n=Count("pk"), last=Max("updated_at"))
    )
    return row["n"], row["last"]


# --- reminders and mentions ---


@dataclass(frozen=True)
class OverdueCounts:
    """A user's open work: ``overdue`` (tasks past their due day and scheduled activities
    that have ended, still pending) and ``today`` (pending, due or scheduled today)."""

    overdue: int = 0
    today: int = 0


def _org_today(org) -> tuple[datetime.date, datetime.datetime, datetime.datetime]:
    """Today in the organization's time zone, and its start and end instants."""
    try:
        tz = zoneinfo.ZoneInfo(org.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = datetime.UTC
    today = timezone.localtime(timezone.now(), tz).date()
    start = datetime.datetime.combine(today, datetime.time.min, tzinfo=tz)
    return today, start, start + datetime.timedelta(days=1)


def _ends_at_expression():
    """``Activity.ends_at`` in SQL: all day = one day, else the duration (30 minutes
    when none is given) after ``scheduled_at``."""
    minutes = models.Case(
        models.When(all_day=True, then=models.Value(60 * 24)),
        default=Coalesce("duration_minutes", models.Value(30)),
        output_field=models.IntegerField(),
    )
    return models.ExpressionWrapper(
        models.F("scheduled_at")
        + models.ExpressionWrapper(
            minutes * models.Value(datetime.timedelta(minutes=1)),
            output_field=models.DurationField(),
        ),
        output_field=models.DateTimeField(),
    )


def overdue_counts_query(user, org) -> OverdueCounts:
    """Count a user's overdue and today's activities in ``org`` (one query, uncached).

    Only the user's pending, live rows due up to today or scheduled before the end of
    today are read: the (organization, assigned_to, due_date) and (…, scheduled_at)
    partial indexes cover both halves."""
    from django.db.models import Count, Q

    from .models import Activity, ActivityStatus

    if user is None or not getattr(user, "is_authenticated", False) or org is None:
        return OverdueCounts()
    now = timezone.now()
    today, day_start, day_end = _org_today(org)
    result = (
        Activity.objects.unscoped()
        .filter(organization=org, assigned_to=user, status=ActivityStatus.PENDING)
        .filter(deleted_at__isnull=True)
        .filter(Q(due_date__lte=today) | Q(due_date__isnull=True, scheduled_at__lt=day_end))
        .alias(ends_at=_ends_at_expression())
        .aggregate(
            overdue=Count(
                "pk",
                filter=Q(due_date__lt=today)
                | Q(due_date__isnull=True, scheduled_at__lt=now, ends_at__lt=now),
            ),
            today=Count(
                "pk",
                filter=Q(due_date=today)
                | Q(due_date__isnull=True, scheduled_at__gte=day_start, scheduled_at__lt=day_end),
            ),
        )
    )
    return OverdueCounts(overdue=result["overdue"] or 0, today=result["today"] or 0)


def overdue_counts(user, org) -> OverdueCounts:
    """``overdue_counts_query``, once per request (or task): the sidebar badge and any
    other part of the page share the read. A change to an activity in the same request
    forgets it (the services' ``forget("activities.activity")``)."""
    if user is None or org is None or not getattr(user, "is_authenticated", False):
        return OverdueCounts()
    return memoized(
        ("activities.activity", "overdue_counts", user.pk, org.pk),
        lambda: overdue_counts_query(user, org),
    )


def overdue_count(user, org) -> int:
    """How many of the user's activities in ``org`` are overdue (the sidebar badge)."""
    return overdue_counts(user, org).overdue


def mention_candidates(org, query: str = "", *, limit: int = 8) -> list:
    """Active members of ``org`` whose name or email starts a word with ``query``, for
    the @mention autocomplete (by name; at most ``limit``)."""
    from django.db.models import Q

    from pulse.accounts.selectors import organization_members

    members = organization_members(org)
    query = (query or "").strip()[:100]
    if query:
        members = members.filter(
            Q(full_name__istartswith=query)
            | Q(full_name__icontains=" " + query)
            | Q(email__istartswith=query)
        )
    return list(members.only("pk", "full_name", "email")[:limit])


# --- CalDAV ---

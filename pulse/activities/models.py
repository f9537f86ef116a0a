"""Activities: calls, emails, meetings, tasks and notes, with their reminders, checklist
items, attendees and templates; calendar feeds and CalDAV connections.

An activity concerns up to one contact, one company, one lead and one opportunity at
once (a call with a contact about a deal of her company). The services fill the company
from the contact or the deal when it is not given, so a company's timeline is one index
read instead of a union over its contacts and deals.

``occurred_at`` is the one date a timeline sorts on: when the activity is scheduled, or
due, or was completed, or else when it was written down. The services keep it.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.core.models import TenantModel, TenantScopedModel


class ActivityType(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("Email")
    MEETING = "meeting", _("Meeting")
    TASK = "task", _("Task")
    NOTE = "note", _("Note")


class ActivityStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class CallDirection(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class CallOutcome(models.TextChoices):
    CONNECTED = "connected", _("Connected")
    VOICEMAIL = "voicemail", _("Left voicemail")
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")


class AttendeeResponse(models.TextChoices):
    NEEDS_ACTION = "needs_action", _("No answer yet")
    ACCEPTED = "accepted", _("Accepted")
    TENTATIVE = "tentative", _("Tentative")
    DECLINED = "declined", _("Declined")


# Reminder offsets people can choose, in minutes before the activity starts (or is due).
REMINDER_OFFSETS = (
    (0, _("At the time")),
    (15, _("15 minutes before")),
    (60, _("1 hour before")),
    (1440, _("1 day before")),
)

# The record types an activity can concern, in the order pages show them.
LINK_FIELDS = ("contact", "company", "lead", "opportunity")


class Activity(TenantModel):
    """Something done or to do with a customer: a call, an email, a meeting, a task or a
    note. Type-specific fields are blank for the other types."""

    type = models.CharField(_("type"), max_length=8, choices=ActivityType.choices)
    subject = models.CharField(_("subject"), max_length=255)
    # Rich text, sanitized by the services before it is saved (never trusted on output).
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=9, choices=ActivityStatus.choices, default=ActivityStatus.PENDING
    )
    priority = models.CharField(
        _("priority"), max_length=6, choices=Priority.choices, default=Priority.NORMAL
    )
    scheduled_at = models.DateTimeField(_("scheduled at"), null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(
        _("duration (minutes)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(60 * 24 * 14)],
    )
    all_day = models.BooleanField(_("all day"), default=False)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    # The timeline's sort key (see the module docstring); kept by the services.
    occurred_at = models.DateTimeField(_("date"), default=timezone.now)

    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_activities",
        verbose_name=_("assigned to"),
    )

    # What it concerns (any of the four; see LINK_FIELDS).
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        verbose_name=_("contact"),
    )
    company = models.ForeignKey(
        "contacts.Company",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        verbose_name=_("company"),
    )
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        verbose_name=_("lead"),
    )
    opportunity = models.ForeignKey(
        "opportunities.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        verbose_name=_("opportunity"),
    )
    # The activity whose completion scheduled this one.
    follow_up_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
        verbose_name=_("follow-up of"),
    )

    # Calls.
    call_direction = models.CharField(
        _("direction"), max_length=8, choices=CallDirection.choices, blank=True
    )
    call_outcome = models.CharField(
        _("outcome"), max_length=9, choices=CallOutcome.choices, blank=True
    )
    # Meetings.
    location = models.CharField(_("location"), max_length=255, blank=True)
    video_url = models.URLField(_("video link"), max_length=500, blank=True)
    # What came out of a meeting or call (rich text, sanitized like the description).
    notes = models.TextField(_("notes"), blank=True)
    # Emails (the email issue fills these from real mailboxes).
    email_from = models.CharField(_("from"), max_length=320, blank=True)
    email_to = models.TextField(_("to"), blank=True)
    email_cc = models.TextField(_("cc"), blank=True)
    message_id = models.CharField(_("message id"), max_length=998, blank=True)
    thread_id = models.CharField(_("thread"), max_length=998, blank=True)
    # iCalendar UID: stable across .ics downloads, invitations and CalDAV copies.
    ical_uid = models.CharField(_("calendar UID"), max_length=255, blank=True, editable=False)

    visibility_field = "assigned_to"
    audit_exclude = TenantModel.audit_exclude | {"occurred_at"}

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-occurred_at", "-created_at"]
        indexes = [
            # Timelines: one record's activities, newest first.
            models.Index(
                fields=["organization", "contact", "-occurred_at"],
                condition=models.Q(deleted_at__isnull=True, contact__isnull=False),
                name="act_org_contact_time",
            ),
            models.Index(
                fields=["organization", "company", "-occurred_at"],
                condition=models.Q(deleted_at__isnull=True, company__isnull=False),
                name="act_org_company_time",
            ),
            models.Index(
                fields=["organization", "lead", "-occurred_at"],
                condition=models.Q(deleted_at__isnull=True, lead__isnull=False),
                name="act_org_lead_time",
            ),
            models.Index(
                fields=["organization", "opportunity", "-occurred_at"],
                condition=models.Q(deleted_at__isnull=True, opportunity__isnull=False),
                name="act_org_opp_time",
            ),
            # A user's calendar: their scheduled activities in a date window.
            models.Index(
                fields=["organization", "assigned_to", "scheduled_at"],
                condition=models.Q(deleted_at__isnull=True, scheduled_at__isnull=False),
                name="act_org_user_sched",
            ),
            # Open tasks by due date (overdue counts, "my tasks today").
            models.Index(
                fields=["organization", "assigned_to", "due_date"],
                condition=models.Q(deleted_at__isnull=True, status="pending"),
                name="act_org_user_due",
            ),
            models.Index(fields=["organization", "-occurred_at"], name="act_org_time"),
            # Everyone's overdue work (the dashboard's organization and team scopes): the
            # two halves of ``overdue_condition`` as one BitmapOr, counted without the
            # heap once autovacuum has marked the pages all-visible.
            models.Index(
                fields=["organization", "due_date"],
                condition=models.Q(deleted_at__isnull=True, status="pending"),
                name="act_org_due_pending",
            ),
            models.Index(
                fields=["organization", "scheduled_at"],
                condition=models.Q(
                    deleted_at__isnull=True, status="pending", due_date__isnull=True
                ),
                name="act_org_sched_pending",
            ),
            # A member's own overdue work without a due date (the dashboard's "me" scope):
            # the calendar's index above holds every status, so counting a busy seller's
            # 3,750 overdue meetings read 140,000 rows from the table (295 ms).
            models.Index(
                fields=["organization", "assigned_to", "scheduled_at"],
                condition=models.Q(
                    deleted_at__isnull=True, status="pending", due_date__isnull=True
                ),
                name="act_org_user_sched_pending",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(completed_at__isnull=True) | ~models.Q(status="pending"),
                name="activity_pending_not_completed",
            ),
        ]

    def __str__(self) -> str:
        return self.subject

    # The activity's page.
    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("activities:activity_detail", args=[self.pk])

    def clean(self):
        super().clean()
        errors = {}
        if self.type == ActivityType.MEETING and not (self.scheduled_at or self.all_day):
            errors["scheduled_at"] = _("A meeting needs a date and time.")
        if self.all_day and not self.scheduled_at:
            errors["scheduled_at"] = _("An all-day activity needs its day.")
        if self.type != ActivityType.CALL and (self.call_direction or self.call_outcome):
            errors["call_outcome"] = _("Only a call has a direction and an outcome.")
        if self.status == ActivityStatus.PENDING and self.completed_at:
            errors["completed_at"] = _("A pending activity has no completion date.")
        if errors:
            raise ValidationError(errors)

    @property
    def ends_at(self):
        if self.scheduled_at is None:
            return None
        if self.all_day:
            return self.scheduled_at + timezone.timedelta(days=1)
        return self.scheduled_at + timezone.timedelta(minutes=self.duration_minutes or 30)

    @property
    def is_overdue(self) -> bool:
        if self.status != ActivityStatus.PENDING:
            return False
        today = timezone.localdate()
        if self.due_date is not None:
            return self.due_date < today
        return self.scheduled_at is not None and self.ends_at < timezone.now()


class ActivityChecklistItem(TenantModel):
    """One line of a task's checklist."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="checklist_items")
    text = models.CharField(_("item"), max_length=255)
    done = models.BooleanField(_("done"), default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "created_at"]
        indexes = [models.Index(fields=["activity", "position"], name="act_check_pos")]

    def __str__(self) -> str:
        return self.text


class ActivityAttendee(TenantModel):
    """Who is invited to a meeting: a user, a contact, or only an email address (an
    imported invitation's guest we do not know yet)."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="attendees")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="meeting_invitations",
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="meeting_invitations",
    )
    email = models.EmailField(_("email"), blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    response = models.CharField(
        _("response"),
        max_length=12,
        choices=AttendeeResponse.choices,
        default=AttendeeResponse.NEEDS_ACTION,
    )
    invited_at = models.DateTimeField(_("invitation sent"), null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "contact"], name="act_att_contact"),
            models.Index(fields=["organization", "user"], name="act_att_user"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(user__isnull=True, contact__isnull=True, email=""),
                name="attendee_is_someone",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.email


class ActivityReminder(TenantScopedModel):
    """A reminder of one activity at one offset. ``remind_at`` is when it is due;
    ``claimed_at``/``claimed_by`` mark the worker that took it (a conditional UPDATE, so
    two workers never both send it); ``sent_at`` when it went out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="reminders")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="activity_reminders"
    )
    offset_minutes = models.PositiveIntegerField(
        _("remind"), choices=REMINDER_OFFSETS, validators=[MinValueValidator(0)]
    )
    remind_at = models.DateTimeField(_("remind at"))
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The periodic task: due, not yet sent, across organizations.
            models.Index(
                fields=["remind_at"],
                condition=models.Q(sent_at__isnull=True),
                name="act_reminder_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["activity", "recipient", "offset_minutes"], name="act_reminder_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id} −{self.offset_minutes} min"


class ActivityTemplate(TenantModel):
    """A starting point ("Discovery call", "Send proposal") that prefills an activity and
    can schedule its follow-up."""

    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=8, choices=ActivityType.choices)
    subject = models.CharField(_("subject"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True, blank=True)
    priority = models.CharField(
        _("priority"), max_length=6, choices=Priority.choices, default=Priority.NORMAL
    )
    follow_up_type = models.CharField(
        _("follow-up type"), max_length=8, choices=ActivityType.choices, blank=True
    )
    follow_up_subject = models.CharField(_("follow-up subject"), max_length=255, blank=True)
    follow_up_days = models.PositiveIntegerField(_("follow up after (days)"), null=True, blank=True)

    permission_group = "config"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="activitytemplate_unique_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(TenantModel):
    """A user's private iCalendar feed URL (``/calendar/feed/<token>.ics``). Revoking it
    sets ``revoked_at``; a new one gets a new token."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token = models.CharField(max_length=64, unique=True, default=new_feed_token, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    permission_group = "personal"
    audit_exclude = TenantModel.audit_exclude | {"last_fetched_at"}

    @staticmethod
    def restrict_for(qs, membership, action):
        return qs.filter(user_id=membership.user_id)

    def __str__(self) -> str:
        return f"{self.user} feed"


class CalDavConnection(TenantModel):
    """A user's CalDAV calendar kept in two-way sync with their CRM meetings.

    The password is stored encrypted (``activities.caldav`` holds the cipher, keyed from
    the deployment's secret). ``last_error``/``next_sync_at`` let a failing server be
    retried later and shown on the connection page."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caldav_connections"
    )
    name = models.CharField(_("name"), max_length=200)
    url = models.URLField(_("calendar URL"), max_length=1000)
    username = models.CharField(_("user name"), max_length=200)
    password_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(_("sync on"), default=True)
    sync_token = models.TextField(blank=True, editable=False)
    last_synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    failures = models.PositiveIntegerField(default=0, editable=False)
    next_sync_at = models.DateTimeField(null=True, blank=True, editable=False)

    permission_group = "personal"
    audit_exclude = TenantModel.audit_exclude | {
        "password_encrypted",
        "sync_token",
        "last_synced_at",
        "last_error",
        "last_error_at",
        "failures",
        "next_sync_at",
    }

    @staticmethod
    def restrict_for(qs, membership, action):
        return qs.filter(user_id=membership.user_id)

    def __str__(self) -> str:
        return self.name


class CalDavEvent(TenantScopedModel):
    """The sync state of one event: which CRM activity is which remote object, and the
    versions last seen on each side, so a change is pushed or pulled once and a deletion
    on either side is carried over instead of duplicated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        CalDavConnection, on_delete=models.CASCADE, related_name="events"
    )
    activity = models.ForeignKey(
        Activity, null=True, blank=True, on_delete=models.SET_NULL, related_name="caldav_events"
    )
    uid = models.CharField(max_length=255)
    href = models.CharField(max_length=1000, blank=True)
    etag = models.CharField(max_length=255, blank=True)
    # The activity's version when it was last pushed or pulled.
    activity_version = models.PositiveIntegerField(default=0)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "uid"], name="caldav_event_uid"),
        ]

    def __str__(self) -> str:
        return self.uid

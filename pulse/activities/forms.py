"""Activities: forms (see DESIGN.md for this file's role)."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pulse.contacts.forms import RecordForm
from pulse.contacts.widgets import RemoteSelect
from pulse.core.forms import ServiceForm, TenantModelForm

from .ical_import import MAX_BYTES
from .models import (
    REMINDER_OFFSETS,
    Activity,
    ActivityTemplate,
    ActivityType,
    AttendeeResponse,
    CallDirection,
    CallOutcome,
    Priority,
)

# --- activities ---

# Imports of this section (the lead hoists them).


# Fields that belong to one type only: the form shows them for that type (JS) and blanks
# them for the others, so switching the type never trips "only a call has an outcome".
TYPE_FIELDS = {
    "call_direction": ("call",),
    "call_outcome": ("call",),
    "location": ("meeting",),
    "video_url": ("meeting",),
    "notes": ("call", "meeting"),
    "email_from": ("email",),
    "email_to": ("email",),
    "email_cc": ("email",),
}
LINK_PARAMS = ("contact", "company", "lead", "opportunity")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")

    def format_value(self, value):
        if isinstance(value, datetime.datetime) and timezone.is_aware(value):
            value = timezone.localtime(value)
        return super().format_value(value)


def _link_widgets() -> dict:
    return {
        "contact": RemoteSelect(url_name="contacts:contact_options"),
        "company": RemoteSelect(url_name="contacts:company_options"),
        "lead": RemoteSelect(url_name="activities:lead_options"),
        "opportunity": RemoteSelect(url_name="activities:opportunity_options"),
    }


class ActivityForm(RecordForm):
    """An activity's full form. The type decides which fields show (``data-types`` on
    their wrappers, switched by a small script; without it every field shows and the
    ones of other types are ignored). Reminders are saved through the reminders service."""

    reminders = forms.TypedMultipleChoiceField(
        label=_("Reminders"),
        choices=REMINDER_OFFSETS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    log_as_done = forms.BooleanField(label=_("Already done (log it as completed)"), required=False)

    fieldsets = [
        (_("Activity"), ["type", "subject", "priority", "log_as_done"]),
        (
            _("When"),
            ["scheduled_at", "duration_minutes", "all_day", "due_date", "reminders"],
        ),
        (_("Concerns"), ["contact", "company", "lead", "opportunity"]),
        (_("Call"), ["call_direction", "call_outcome"]),
        (_("Meeting"), ["location", "video_url"]),
        (_("Email"), ["email_from", "email_to", "email_cc"]),
        (_("Details"), ["description", "notes"]),
        (_("Owner"), ["assigned_to"]),
    ]

    class Meta:
        model = Activity
        fields = [
            "type",
            "subject",
            "priority",
            "scheduled_at",
            "duration_minutes",
            "all_day",
            "due_date",
            "contact",
            "company",
            "lead",
            "opportunity",
            "call_direction",
            "call_outcome",
            "location",
            "video_url",
            "email_from",
            "email_to",
            "email_cc",
            "description",
            "notes",
            "assigned_to",
        ]
        widgets = {
            **_link_widgets(),
            "scheduled_at": DateTimeLocalInput(),
            "due_date": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 4, "data-mentions": ""}),
            "notes": forms.Textarea(attrs={"rows": 3, "data-mentions": ""}),
            "email_to": forms.Textarea(attrs={"rows": 1}),
            "email_cc": forms.Textarea(attrs={"rows": 1}),
            "duration_minutes": forms.NumberInput(attrs={"min": 0, "step": 5}),
        }

    def __init__(self, *args, request, initial=None, **kwargs):
        initial = dict(initial or {})
        instance = kwargs.get("instance")
        adding = instance is None or instance._state.adding
        self.template = None
        if adding:
            initial.update(self._prefill(request))
        super().__init__(*args, request=request, initial=initial, **kwargs)
        for name in ("call_direction", "call_outcome"):
            self.fields[name].choices = [("", "—"), *self.fields[name].choices[1:]]
        if not adding:
            del self.fields["log_as_done"]
            self.fields["reminders"].initial = sorted(
                set(self.instance.reminders.values_list("offset_minutes", flat=True))
            )
        self.fields["description"].help_text = _("Type @ to mention a colleague.")
        for name, types in TYPE_FIELDS.items():
            self.fields[name].widget.attrs["data-types"] = " ".join(types)
        self.fields["reminders"].widget.attrs["class"] = "form-check-input"

    @staticmethod
    def _prefill(request) -> dict:
        """``?contact=<id>`` (and company, lead, opportunity), ``?type=`` and
        ``?template=<id>`` (type, subject, duration, description, priority)."""
        initial: dict = {}
        params = request.GET
        for name in LINK_PARAMS:
            if params.get(name):
                initial[name] = params[name][:64]
        if params.get("type") in ActivityType.values:
            initial["type"] = params["type"]
        template_id = params.get("template", "")
        if template_id:
            try:
                template = ActivityTemplate.objects.restrict(request.user, "view").get(
                    pk=template_id
                )
            except (ActivityTemplate.DoesNotExist, ValueError, Exception):  # noqa: BLE001
                template = None
            if template is not None:
                initial.update(
                    type=template.type,
                    subject=template.subject,
                    duration_minutes=template.duration_minutes,
                    description=template.description,
                    priority=template.priority,
                )
        if params.get("scheduled_at"):
            initial["scheduled_at"] = params["scheduled_at"][:32]
        return initial

    def clean(self):
        # Before the model validates: the fields of other types are blanked (they may
        # still hold what was typed before the type was switched).
        data = super().clean()
        kind = data.get("type")
        for name, types in TYPE_FIELDS.items():
            if name in data and kind not in types:
                data[name] = ""
        return data


class QuickActivityForm(RecordForm):
    """The top bar's "New activity" dialog: what, when, with whom."""

    class Meta:
        model = Activity
        fields = ["type", "subject", "scheduled_at", "due_date", "contact", "assigned_to"]
        widgets = {
            "contact": RemoteSelect(url_name="contacts:contact_options"),
            "scheduled_at": DateTimeLocalInput(),
            "due_date": forms.DateInput(attrs={"type": "date"}),
        }


class ActivityCompleteForm(ServiceForm):
    """The "Complete" dialog: the outcome, notes, and an optional follow-up."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    call_outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", "—"), *CallOutcome.choices], required=False
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "data-mentions": ""}),
    )
    follow_up = forms.BooleanField(label=_("Schedule a follow-up"), required=False)
    follow_up_type = forms.ChoiceField(
        label=_("Type"), choices=ActivityType.choices, required=False
    )
    follow_up_subject = forms.CharField(label=_("Subject"), max_length=255, required=False)
    follow_up_scheduled_at = forms.DateTimeField(
        label=_("When"), required=False, widget=DateTimeLocalInput()
    )
    follow_up_due_date = forms.DateField(
        label=_("Due"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, activity=None, suggestion=None, **kwargs):
        self.activity = activity
        super().__init__(*args, **kwargs)
        if activity is not None:
            self.fields["expected_version"].initial = activity.version
            self.fields["call_outcome"].initial = activity.call_outcome
            self.fields["notes"].initial = activity.notes
            if activity.type != ActivityType.CALL:
                del self.fields["call_outcome"]
        if suggestion:
            self.fields["follow_up"].initial = True
            self.fields["follow_up_type"].initial = suggestion.get("type")
            self.fields["follow_up_subject"].initial = suggestion.get("subject")
            self.fields["follow_up_due_date"].initial = suggestion.get("due_date")
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "form-check-input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            elif not widget.is_hidden:
                widget.attrs["class"] = "form-control"

    def clean(self):
        data = super().clean()
        if data.get("follow_up"):
            if not (data.get("follow_up_subject") or "").strip():
                self.add_error("follow_up_subject", _("A follow-up needs a subject."))
            if not data.get("follow_up_type"):
                self.add_error("follow_up_type", _("Choose what kind of follow-up to schedule."))
        return data

    def outcome_fields(self) -> dict:
        data = self.cleaned_data
        fields = {}
        if "call_outcome" in self.fields and data.get("call_outcome"):
            fields["call_outcome"] = data["call_outcome"]
        if data.get("notes") is not None and self.activity is not None:
            if data["notes"] != self.activity.notes:
                fields["notes"] = data["notes"]
        return fields

    def follow_up_fields(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("follow_up"):
            return None
        fields = {"type": data["follow_up_type"], "subject": data["follow_up_subject"]}
        if data.get("follow_up_scheduled_at"):
            fields["scheduled_at"] = data["follow_up_scheduled_at"]
        if data.get("follow_up_due_date"):
            fields["due_date"] = data["follow_up_due_date"]
        return fields


class ActivityBulkActionForm(ServiceForm):
    """The list's bulk bar: assign, complete, cancel, move to the trash."""

    ACTIONS = [
        ("complete", _("Mark completed")),
        ("cancel", _("Cancel")),
        ("assign", _("Assign to")),
        ("delete", _("Move to trash")),
    ]

    ids = forms.CharField(required=False)  # replaced in __init__ (UUIDListField)
    select_all = forms.BooleanField(required=False)
    query = forms.CharField(required=False, max_length=4000)
    action = forms.ChoiceField(choices=ACTIONS)
    assigned_to = forms.ModelChoiceField(queryset=None, required=False)

    def __init__(self, *args, request, **kwargs):
        from pulse.contacts.forms import UUIDListField, _members

        super().__init__(*args, request=request, **kwargs)
        self.fields["ids"] = UUIDListField(required=False)
        self.fields["assigned_to"].queryset = _members(request)

    def clean(self):
        data = super().clean()
        if data.get("action") == "assign" and not data.get("assigned_to"):
            self.add_error("assigned_to", _("Choose whom to assign them to."))
        if not data.get("ids") and not data.get("select_all"):
            self.add_error(None, _("Select at least one activity."))
        return data


class ChecklistItemForm(ServiceForm):
    text = forms.CharField(label=_("Item"), max_length=255)


class ActivityTemplateForm(TenantModelForm):
    """An activity template: what it prefills, and the follow-up it suggests."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ActivityTemplate
        fields = [
            "name",
            "type",
            "subject",
            "duration_minutes",
            "priority",
            "description",
            "follow_up_type",
            "follow_up_subject",
            "follow_up_days",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        if self.instance._state.adding:
            self.instance.organization = request.organization
        else:
            self.fields["expected_version"].initial = self.instance.version
        self.fields["follow_up_type"].choices = [("", "—"), *ActivityType.choices]
        self.fields["follow_up_days"].help_text = _("Due this many days after completion.")
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            elif not widget.is_hidden:
                widget.attrs["class"] = "form-control"


REPORT_PERIODS = (
    ("week", _("This week")),
    ("month", _("This month")),
    ("quarter", _("This quarter")),
    ("last30", _("Last 30 days")),
    ("custom", _("Custom range")),
)


class ActivityReportForm(ServiceForm):
    """The report's period and scope (me, a team, everyone the reader may see)."""

    period = forms.ChoiceField(label=_("Period"), choices=REPORT_PERIODS, required=False)
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    scope = forms.ChoiceField(label=_("Whose"), required=False)

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        from pulse.accounts.models import Team

        teams = Team.objects.unscoped().filter(
            organization=request.organization, deleted_at__isnull=True
        )
        self.teams = {str(t.pk): t for t in teams.order_by("name")}
        self.fields["scope"].choices = [
            ("everyone", _("Everyone I can see")),
            ("me", _("Me")),
            *[
                (f"team:{pk}", _("Team %(name)s") % {"name": t.name})
                for pk, t in self.teams.items()
            ],
        ]
        for field in self.fields.values():
            widget = field.widget
            css = (
                "form-select form-select-sm"
                if isinstance(widget, forms.Select)
                else ("form-control form-control-sm")
            )
            widget.attrs["class"] = css

    def clean(self):
        data = super().clean()
        period = data.get("period") or "month"
        data["period"] = period
        today = timezone.localdate()
        if period == "week":
            start = today - datetime.timedelta(days=today.weekday())
            end = start + datetime.timedelta(days=6)
        elif period == "month":
            start = today.replace(day=1)
            end = (start + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
        elif period == "quarter":
            start = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
            end = (start + datetime.timedelta(days=93)).replace(day=1) - datetime.timedelta(days=1)
        elif period == "last30":
            start, end = today - datetime.timedelta(days=29), today
        else:
            start, end = data.get("start"), data.get("end")
            if start is None:
                self.add_error("start", _("Choose the first day."))
            if end is None:
                self.add_error("end", _("Choose the last day."))
            if start and end:
                if end < start:
                    self.add_error("end", _("The last day comes after the first."))
                elif (end - start).days > 366 * 2:
                    self.add_error("end", _("Choose at most two years."))
        data["start"], data["end"] = start, end
        scope = data.get("scope") or "everyone"
        data["scope"] = scope
        return data

    def user_ids(self):
        """The owners the scope names (None: everyone visible)."""
        scope = self.cleaned_data["scope"]
        if scope == "me":
            return [self.request.user.pk]
        if scope.startswith("team:"):
            team = self.teams.get(scope[5:])
            members = list(
                team.members.through.objects.filter(team_id=team.pk).values_list(
                    "user_id", flat=True
                )
            )
            return members
        return None


# --- timeline ---


# The composer's tabs, in order: (kind, label, icon).
COMPOSER_KINDS = (
    ("note", _("Note"), "bi-sticky"),
    ("call", _("Log a call"), "bi-telephone"),
    ("meeting", _("Schedule a meeting"), "bi-people"),
    ("task", _("Task"), "bi-check2-square"),
)


def _note_field(label, **kwargs):
    return forms.CharField(
        label=label,
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 2, "data-mentions": ""}),
        **kwargs,
    )


class TimelineNoteForm(ServiceForm):
    """A note: only its text (the subject is its first words)."""

    description = _note_field(_("Note"))

    def clean_description(self):
        text = (self.cleaned_data.get("description") or "").strip()
        if not strip_tags(text).strip():
            raise forms.ValidationError(gettext("Write something first."))
        return text

    def service_fields(self) -> dict:
        from .services import sanitize_rich_text

        text = self.cleaned_data["description"]
        words = " ".join(strip_tags(sanitize_rich_text(text)).split())
        subject = words if len(words) <= 80 else words[:79].rstrip() + "…"
        return {
            "type": "note",
            "subject": subject,
            "description": text,
            "status": "completed",
        }


class TimelineCallForm(ServiceForm):
    """A call: just made (done now) or one to make."""

    subject = forms.CharField(label=_("Subject"), max_length=255)
    call_direction = forms.ChoiceField(
        label=_("Direction"), choices=CallDirection.choices, initial="outbound"
    )
    call_outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", "—"), *CallOutcome.choices], required=False
    )
    duration_minutes = forms.IntegerField(
        label=_("Minutes"), min_value=0, max_value=24 * 60, required=False
    )
    notes = _note_field(_("Notes"))
    done = forms.BooleanField(label=_("Done now"), required=False, initial=True)

    def service_fields(self) -> dict:
        data = self.cleaned_data
        fields = {
            "type": "call",
            "subject": data["subject"],
            "call_direction": data["call_direction"],
            "call_outcome": data["call_outcome"],
            "duration_minutes": data["duration_minutes"],
            "notes": data["notes"],
        }
        if data["done"]:
            fields["status"] = "completed"
        return fields


class TimelineMeetingForm(ServiceForm):
    """A meeting at a date and time, somewhere or on a video link."""

    subject = forms.CharField(label=_("Subject"), max_length=255)
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}))
    duration_minutes = forms.IntegerField(
        label=_("Minutes"), min_value=1, max_value=24 * 60, initial=30
    )
    location = forms.CharField(label=_("Location"), max_length=255, required=False)
    video_url = forms.URLField(
        label=_("Video link"), max_length=500, required=False, assume_scheme="https"
    )

    def service_fields(self) -> dict:
        data = self.cleaned_data
        when = datetime.datetime.combine(data["date"], data["time"])
        return {
            "type": "meeting",
            "subject": data["subject"],
            "scheduled_at": timezone.make_aware(when),
            "duration_minutes": data["duration_minutes"],
            "location": data["location"],
            "video_url": data["video_url"],
        }


class TimelineTaskForm(ServiceForm):
    """A task with a due day and a priority."""

    subject = forms.CharField(label=_("Subject"), max_length=255)
    due_date = forms.DateField(
        label=_("Due"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial="normal")

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "type": "task",
            "subject": data["subject"],
            "due_date": data["due_date"],
            "priority": data["priority"],
        }


TIMELINE_COMPOSER_FORMS = {
    "note": TimelineNoteForm,
    "call": TimelineCallForm,
    "meeting": TimelineMeetingForm,
    "task": TimelineTaskForm,
}


# --- calendar and iCalendar ---


CALENDAR_CREATE_TYPES = (
    ("meeting", _("Meeting")),
    ("call", _("Call")),
    ("task", _("Task")),
)


def _contacts(request):
    from pulse.contacts.models import Contact

    return Contact.objects.restrict(request.user, "view")


class CalendarCreateForm(ServiceForm):
    """Click on an empty slot: a meeting, call or task at that time."""

    subject = forms.CharField(label=_("subject"), max_length=255)
    type = forms.ChoiceField(label=_("type"), choices=CALENDAR_CREATE_TYPES)
    start = forms.DateTimeField(label=_("starts"))
    all_day = forms.BooleanField(label=_("all day"), required=False)
    duration_minutes = forms.IntegerField(
        label=_("duration (minutes)"), min_value=5, max_value=60 * 24, initial=30
    )
    contact = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label=_("contact"),
        widget=RemoteSelect(url_name="contacts:contact_options"),
    )

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.fields["contact"].queryset = _contacts(request)

    def service_fields(self) -> dict:
        data = self.cleaned_data
        fields = {
            "type": data["type"],
            "subject": data["subject"],
            "scheduled_at": data["start"],
            "all_day": data["all_day"],
            "duration_minutes": None if data["all_day"] else data["duration_minutes"],
            "contact": data["contact"],
        }
        if data["type"] == "task":
            fields["due_date"] = timezone.localtime(data["start"]).date()
        return fields


class CalendarMoveForm(ServiceForm):
    """A drop or a resize on the calendar: the new start (and end), and the version the
    page had."""

    start = forms.DateTimeField()
    end = forms.DateTimeField(required=False)
    all_day = forms.BooleanField(required=False)
    version = forms.IntegerField(min_value=1)


class AttendeeAddForm(ServiceForm):
    """Invite a member, a contact, or anyone by email."""

    user = forms.ModelChoiceField(queryset=None, required=False, label=_("member"))
    contact = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label=_("contact"),
        widget=RemoteSelect(url_name="contacts:contact_options"),
    )
    email = forms.EmailField(required=False, label=_("or an email address"))

    def __init__(self, *args, request, **kwargs):
        from pulse.accounts.selectors import organization_members

        super().__init__(*args, request=request, **kwargs)
        self.fields["user"].queryset = organization_members(request.organization)
        self.fields["user"].empty_label = "—"
        self.fields["user"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["contact"].queryset = _contacts(request)
        self.fields["contact"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["email"].widget.attrs.update(
            {"class": "form-control form-control-sm", "placeholder": "name@example.com"}
        )

    def clean(self):
        data = super().clean()
        chosen = [k for k in ("user", "contact", "email") if data.get(k)]
        if len(chosen) != 1 and not self.errors:
            raise forms.ValidationError(
                _("Choose one member, one contact or enter one email address.")
            )
        return data


class AttendeeRespondForm(ServiceForm):
    response = forms.ChoiceField(choices=AttendeeResponse.choices)


# --- reminders and mentions ---

# --- CalDAV ---


class CalDavConnectionForm(ServiceForm):
    """A CalDAV calendar to sync. The password is never shown back: blank on edit keeps
    the stored one."""

    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": _("Work calendar")}),
    )
    url = forms.URLField(
        label=_("Calendar URL"),
        max_length=1000,
        assume_scheme="https",
        help_text=_(
            "The address of the calendar itself, e.g. "
            "https://dav.example.com/calendars/you/work/ (your calendar app's settings show it)."
        ),
        widget=forms.URLInput(attrs={"class": "form-control"}),
    )
    username = forms.CharField(
        label=_("User name"),
        max_length=200,
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    password = forms.CharField(
        label=_("Password or app password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"class": "form-control", "autocomplete": "new-password"}
        ),
    )
    enabled = forms.BooleanField(
        label=_("Sync on"),
        required=False,
        initial=True,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, instance=None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": instance.name,
                    "url": instance.url,
                    "username": instance.username,
                    "enabled": instance.enabled,
                    "expected_version": instance.version,
                },
            )
        super().__init__(*args, **kwargs)
        if instance is None:
            self.fields["password"].required = True
            self.fields["password"].help_text = _(
                "Stored encrypted. Many providers (iCloud, Fastmail, Google) want an app "
                "password here."
            )
        else:
            self.fields["password"].help_text = _("Leave blank to keep the stored password.")


class IcsImportForm(ServiceForm):
    """An .ics file whose events become the importer's meetings."""

    file = forms.FileField(
        label=_("iCalendar file (.ics)"),
        help_text=_(
            "Up to 2 MB and 2,000 events. Repeating events are added for the next 12 months "
            "(at most 100 times each). Importing the same file again updates its meetings."
        ),
        widget=forms.ClearableFileInput(
            attrs={"class": "form-control", "accept": ".ics,text/calendar"}
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB; split it or export a shorter period.")
                % {"mb": MAX_BYTES // (1024 * 1024)}
            )
        return upload

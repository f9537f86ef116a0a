"""Forms of the accounts pages. They parse and display; services do the writing."""

from __future__ import annotations

import datetime

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pulse.core.forms import ApplicationErrorFormMixin, ServiceForm

from .models import Organization, Role, Team, User
from .selectors import organization_members
from .services import ORGANIZATION_SETTINGS_FIELDS


class LoginForm(AuthenticationForm):
    """Django's login form, asking for an email address."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.label = _("Email")
        field.widget = forms.EmailInput(
            attrs={"autofocus": True, "autocomplete": "email", "class": "form-control"}
        )
        self.fields["password"].widget.attrs["class"] = "form-control"


def _bootstrap(form: forms.Form) -> None:
    """Give every widget Bootstrap's classes (the shared field template expects them)."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
            continue
        css = "form-select" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class BootstrapMixin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self)


class SignupForm(BootstrapMixin, ServiceForm):
    full_name = forms.CharField(label=_("Your name"), max_length=150)
    email = forms.EmailField(
        label=_("Work email"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 10 characters, not only digits, not a common password."),
    )
    organization_name = forms.CharField(label=_("Organization name"), max_length=150)


class InvitationSignupForm(BootstrapMixin, ServiceForm):
    """Sign-up for an invited address: the email comes from the invitation and is locked."""

    email = forms.EmailField(label=_("Email"), disabled=True, required=False)
    full_name = forms.CharField(label=_("Your name"), max_length=150)
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class OrganizationCreateForm(BootstrapMixin, ServiceForm):
    name = forms.CharField(label=_("Organization name"), max_length=150)


class ProfileForm(BootstrapMixin, ServiceForm):
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class OrganizationSettingsForm(BootstrapMixin, ApplicationErrorFormMixin, forms.ModelForm):
    """Organization settings; the view hands ``cleaned_data`` to ``organization_update``."""

    class Meta:
        model = Organization
        fields = list(ORGANIZATION_SETTINGS_FIELDS)
        widgets = {"logo": forms.ClearableFileInput(attrs={"accept": "image/*"})}

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)
        self.fields["default_currency"].help_text = _("ISO 4217 code, such as EUR, USD or BGN.")

    def clean_default_currency(self):
        return (self.cleaned_data.get("default_currency") or "").strip().upper()


class InvitationForm(BootstrapMixin, ServiceForm):
    email = forms.EmailField(label=_("Email"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.SALES_REP)

    def __init__(self, *args, can_invite_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_invite_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class TeamForm(BootstrapMixin, ServiceForm):
    """Name, manager and members; people are limited to the organization's members."""

    name = forms.CharField(label=_("Name"), max_length=100)
    manager = forms.ModelChoiceField(
        label=_("Manager"), queryset=User.objects.none(), required=False
    )
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Hold Ctrl (⌘ on a Mac) to pick several people."),
    )

    def __init__(self, *args, request, team: Team | None = None, **kwargs):
        if team is not None and not kwargs.get("data"):
            kwargs["initial"] = {
                "name": team.name,
                "manager": team.manager_id,
                "members": [u.pk for u in team.members.all()],
            }
        super().__init__(*args, request=request, **kwargs)
        people = organization_members(request.organization)
        self.fields["manager"].queryset = people
        self.fields["members"].queryset = people


class ApiTokenForm(BootstrapMixin, ServiceForm):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What will use it, e.g. “Zapier” or “Nightly export”."),
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for a token that does not expire."),
    )

    def expires_at(self) -> datetime.datetime | None:
        """The token stops working at the end of the chosen day (in the current time zone)."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min)
        return timezone.make_aware(end)


class PasswordChangeForm(BootstrapMixin, auth_forms.PasswordChangeForm):
    pass


class PasswordResetForm(BootstrapMixin, auth_forms.PasswordResetForm):
    pass


class SetPasswordForm(BootstrapMixin, auth_forms.SetPasswordForm):
    pass

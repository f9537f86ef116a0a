"""Pages of accounts: sign-in and sign-up, profile, organizations, members, teams,
permissions and API tokens. Thin: parse, call a service or selector, render."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.messages.views import SuccessMessageMixin
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import TemplateView

from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.views import OrganizationRequiredMixin, paginate

from . import selectors, services
from .forms import (
    ApiTokenForm,
    InvitationForm,
    InvitationSignupForm,
    LoginForm,
    OrganizationCreateForm,
    OrganizationSettingsForm,
    PasswordChangeForm,
    PasswordResetForm,
    ProfileForm,
    SetPasswordForm,
    SignupForm,
    TeamForm,
)
from .models import ApiToken, Invitation, Membership, Organization, Role, Team
from .permissions import ACTIONS, DEFAULT_MATRIX, can
from .throttling import client_ip, login_blocked, login_failed, login_succeeded

AUTH_BACKEND = "pulse.accounts.backends.EmailBackend"

ACTION_LABELS = {
    "view": gettext_lazy("View"),
    "create": gettext_lazy("Create"),
    "edit": gettext_lazy("Edit"),
    "delete": gettext_lazy("Delete"),
    "import": gettext_lazy("Import"),
    "export": gettext_lazy("Export"),
    "manage_settings": gettext_lazy("Manage settings"),
}


def _set_language_cookie(response, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
    )


def _start_session(request, user, org=None) -> None:
    """Sign ``user`` in (after sign-up) and work in ``org``."""
    auth_login(request, user, backend=AUTH_BACKEND)
    if org is not None:
        services.organization_switch(user=user, organization_id=org.pk, session=request.session)


class CardPageMixin:
    """Render ``body_template`` as a card that fits both layouts (see card_page.html)."""

    template_name = "accounts/card_page.html"
    body_template = ""
    page_title = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("body_template", self.body_template)
        context.setdefault("page_title", self.page_title)
        return context


# --- permission mixins ----------------------------------------------------------------------


class SettingsPermissionMixin(OrganizationRequiredMixin):
    """Settings pages: signed in, in an organization, and allowed by ``has_permission``.

    By default only owners and admins; others get 403.
    """

    def has_permission(self) -> bool:
        return self.request.membership.is_admin

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and getattr(request, "organization", None) is not None
            and not self.has_permission()
        ):
            raise PermissionDenied(_("Only owners and admins can manage this."))
        return super().dispatch(request, *args, **kwargs)


class TeamPermissionMixin(SettingsPermissionMixin):
    """Team pages follow the permission matrix: ``manage_settings`` plus the action."""

    team_action = "view"

    def has_permission(self) -> bool:
        user = self.request.user
        return can(user, "manage_settings", Team) and can(user, self.team_action, Team)


# --- sign-in, sign-up, sign-out --------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """Django's login with email addresses, throttled per email and per IP (HTTP 429)."""

    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        email = request.POST.get("username", "")
        if login_blocked(email=email, ip=client_ip(request)):
            minutes = max(1, math.ceil(settings.LOGIN_THROTTLE_WINDOW / 60))
            context = self.get_context_data(
                form=self.get_form_class()(request, initial={"username": email}),
                throttled_message=_(
                    "Too many failed sign-in attempts. Wait %(minutes)s minutes and try again."
                )
                % {"minutes": minutes},
            )
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if form.has_error(NON_FIELD_ERRORS, "invalid_login"):
            login_failed(email=form.data.get("username", ""), ip=client_ip(self.request))
        response = super().form_invalid(form)
        response.status_code = 400
        return response

    def form_valid(self, form):
        user = form.get_user()
        login_succeeded(email=user.email)
        response = super().form_valid(form)
        _set_language_cookie(response, user.language)
        return response


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule); back to the sign-in page."""

    next_page = reverse_lazy("accounts:login")


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class SignupView(TemplateView):
    """A new account with its own organization; the new owner is signed in."""

    template_name = "accounts/signup.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("accounts:organization_create")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.get_context_data(form=SignupForm()))

    def post(self, request, *args, **kwargs):
        form = SignupForm(data=request.POST)
        if form.is_valid():
            try:
                user, org = services.organization_signup(**form.cleaned_data)
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                _start_session(request, user, org)
                messages.success(
                    request, _("Welcome to PulseCRM! %(org)s is ready.") % {"org": org.name}
                )
                return redirect("reports:dashboard")
        return self.render_to_response(self.get_context_data(form=form), status=400)


# --- password change and reset ---------------------------------------------------------------


class PasswordChangeView(CardPageMixin, SuccessMessageMixin, auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    body_template = "registration/password_change_form.html"
    page_title = gettext_lazy("Change password")
    success_url = reverse_lazy("accounts:profile")
    success_message = gettext_lazy("Your password has been changed.")


class PasswordResetView(CardPageMixin, auth_views.PasswordResetView):
    form_class = PasswordResetForm
    body_template = "registration/password_reset_form.html"
    page_title = gettext_lazy("Reset your password")
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form):
        # Links are built from SITE_URL, not the request's Host header.
        self.extra_email_context = {"site_url": settings.SITE_URL}
        return super().form_valid(form)


class PasswordResetDoneView(CardPageMixin, auth_views.PasswordResetDoneView):
    template_name = CardPageMixin.template_name
    body_template = "registration/password_reset_done.html"
    page_title = gettext_lazy("Check your email")


class PasswordResetConfirmView(CardPageMixin, auth_views.PasswordResetConfirmView):
    form_class = SetPasswordForm
    template_name = CardPageMixin.template_name
    body_template = "registration/password_reset_confirm.html"
    page_title = gettext_lazy("Choose a new password")
    success_url = reverse_lazy("accounts:password_reset_complete")


class PasswordResetCompleteView(CardPageMixin, auth_views.PasswordResetCompleteView):
    template_name = CardPageMixin.template_name
    body_template = "registration/password_reset_complete.html"
    page_title = gettext_lazy("Password set")


# --- the user's own account -------------------------------------------------------------------


class ProfileView(LoginRequiredMixin, CardPageMixin, TemplateView):
    body_template = "accounts/profile.html"
    page_title = gettext_lazy("Profile")

    def get(self, request, *args, **kwargs):
        user = request.user
        form = ProfileForm(initial={"full_name": user.full_name, "language": user.language})
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request, *args, **kwargs):
        form = ProfileForm(data=request.POST)
        if form.is_valid():
            try:
                user = services.user_update(
                    user=request.user, actor=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, _("Your profile has been saved."))
                response = redirect("accounts:profile")
                _set_language_cookie(response, user.language)
                return response
        return self.render_to_response(self.get_context_data(form=form), status=400)


class TokenListView(OrganizationRequiredMixin, TemplateView):
    """Personal API tokens in this organization; a new key is shown once, on creation."""

    template_name = "accounts/token_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tokens = ApiToken.objects.restrict(self.request.user, "view").order_by("-created_at")
        context.setdefault("form", ApiTokenForm())
        context["page_obj"] = paginate(self.request, tokens)
        return context

    def post(self, request, *args, **kwargs):
        form = ApiTokenForm(data=request.POST)
        if form.is_valid():
            try:
                token, raw_key = services.api_token_create(
                    user=request.user,
                    org=request.organization,
                    name=form.cleaned_data["name"],
                    expires_at=form.expires_at(),
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                context = self.get_context_data(form=ApiTokenForm(), new_token=token)
                context["new_key"] = raw_key
                response = self.render_to_response(context, status=201)
                add_never_cache_headers(response)  # the key must not linger in caches
                return response
        return self.render_to_response(self.get_context_data(form=form), status=400)


class TokenRevokeView(OrganizationRequiredMixin, View):
    model = ApiToken  # which records the pk names (tests/test_isolation.py)

    def post(self, request, pk):
        token = _get_or_404(ApiToken.objects.restrict(request.user, "delete"), pk)
        services.api_token_revoke(token=token, actor=request.user)
        messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
        return redirect("accounts:token_list")


def _get_or_404(queryset, pk):
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


# --- organizations --------------------------------------------------------------------------


class OrganizationCreateView(LoginRequiredMixin, CardPageMixin, TemplateView):
    """Create an organization (where users without one land) and switch to it."""

    body_template = "accounts/organization_create.html"
    page_title = gettext_lazy("Create an organization")

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.get_context_data(form=OrganizationCreateForm()))

    def post(self, request, *args, **kwargs):
        form = OrganizationCreateForm(data=request.POST)
        if form.is_valid():
            try:
                org = services.organization_create(actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                services.organization_switch(
                    user=request.user, organization_id=org.pk, session=request.session
                )
                messages.success(request, _("%(org)s is ready.") % {"org": org.name})
                return redirect("reports:dashboard")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class OrganizationSwitchView(LoginRequiredMixin, View):
    """POST from the user menu: work in another of one's organizations."""

    def post(self, request):
        try:
            org = services.organization_switch(
                user=request.user,
                organization_id=request.POST.get("organization", ""),
                session=request.session,
            )
        except ApplicationError:
            raise Http404
        messages.success(request, _("You are now working in %(org)s.") % {"org": org.name})
        return redirect("reports:dashboard")


class OrganizationSettingsView(SettingsPermissionMixin, TemplateView):
    template_name = "accounts/organization_settings.html"

    def _form(self, **kwargs):
        # A fresh instance: the form may change it in memory, the request's must stay true.
        instance = Organization.objects.get(pk=self.request.organization.pk)
        return OrganizationSettingsForm(instance=instance, request=self.request, **kwargs)

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.get_context_data(form=self._form()))

    def post(self, request, *args, **kwargs):
        form = self._form(data=request.POST, files=request.FILES)
        if form.is_valid():
            try:
                services.organization_update(
                    organization=request.organization, actor=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, _("Organization settings saved."))
                return redirect("accounts:organization_settings")
        return self.render_to_response(self.get_context_data(form=form), status=400)


# --- members and invitations ----------------------------------------------------------------


class MemberListView(SettingsPermissionMixin, TemplateView):
    """Members with their roles, the invite form and recent invitations."""

    template_name = "accounts/member_list.html"
    invitations_shown = 50

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        members = (
            Membership.objects.restrict(user, "view")
            .select_related("user")
            .order_by("user__full_name", "user__email")
        )
        is_owner = self.request.membership.role == Role.OWNER
        context.setdefault("invite_form", InvitationForm(can_invite_owner=is_owner))
        context.update(
            page_obj=paginate(self.request, members, per_page=50),
            invitations=list(
                Invitation.objects.restrict(user, "view")
                .select_related("invited_by")
                .order_by("-created_at")[: self.invitations_shown]
            ),
            role_choices=Role.choices,
            is_owner=is_owner,
        )
        return context


class InvitationCreateView(SettingsPermissionMixin, View):
    def post(self, request):
        is_owner = request.membership.role == Role.OWNER
        form = InvitationForm(data=request.POST, can_invite_owner=is_owner)
        if form.is_valid():
            try:
                invitation = services.invitation_create(
                    org=request.organization, actor=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(
                    request, _("Invitation sent to %(email)s.") % {"email": invitation.email}
                )
                return redirect("accounts:member_list")
        view = MemberListView(request=request, args=(), kwargs={})
        context = view.get_context_data(invite_form=form)
        return render(request, MemberListView.template_name, context, status=400)


class MemberRoleView(SettingsPermissionMixin, View):
    """Change a member's role; htmx gets the row back, a plain form a redirect."""

    model = Membership  # which records the pk names (tests/test_isolation.py)

    def post(self, request, pk):
        membership = _get_or_404(
            Membership.objects.restrict(request.user, "view").select_related("user"), pk
        )
        error = None
        try:
            membership = services.membership_change_role(
                membership=membership, actor=request.user, role=request.POST.get("role", "")
            )
        except ApplicationError as exc:
            error = exc.message
        if request.htmx:
            context = {
                "m": membership,
                "role_choices": Role.choices,
                "is_owner": request.membership.role == Role.OWNER,
                "row_error": error,
                "row_saved": error is None,
            }
            return render(request, "accounts/partials/member_row.html", context)
        if error:
            messages.error(request, error)
        else:
            messages.success(
                request,
                _("%(name)s is now %(role)s.")
                % {"name": membership.user, "role": membership.get_role_display()},
            )
        return redirect("accounts:member_list")


class MemberRemoveView(SettingsPermissionMixin, View):
    model = Membership  # which records the pk names (tests/test_isolation.py)

    def post(self, request, pk):
        membership = _get_or_404(
            Membership.objects.restrict(request.user, "view").select_related("user"), pk
        )
        try:
            services.membership_remove(membership=membership, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("%(name)s has been removed from the organization.") % {"name": membership.user},
            )
        return _redirect(request, reverse("accounts:member_list"))


class InvitationRevokeView(SettingsPermissionMixin, View):
    model = Invitation  # which records the pk names (tests/test_isolation.py)

    def post(self, request, pk):
        invitation = _get_or_404(Invitation.objects.restrict(request.user, "view"), pk)
        try:
            services.invitation_revoke(invitation=invitation, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("The invitation to %(email)s was withdrawn.") % {"email": invitation.email},
            )
        return _redirect(request, reverse("accounts:member_list"))


def _redirect(request, url: str):
    response = HttpResponseRedirect(url)
    if getattr(request, "htmx", False):
        response["HX-Redirect"] = url
    return response


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class InvitationAcceptView(CardPageMixin, TemplateView):
    """The emailed link. A signed-in invitee accepts; a visitor signs up or signs in."""

    body_template = "accounts/invitation_accept.html"
    page_title = gettext_lazy("Invitation")

    def dispatch(self, request, token, *args, **kwargs):
        self.token = token
        try:
            self.invitation = selectors.invitation_from_token(token)
        except ApplicationError as exc:
            context = {
                "body_template": "accounts/invitation_invalid.html",
                "page_title": _("Invitation"),
                "reason": exc.message,
            }
            return render(request, CardPageMixin.template_name, context, status=400)
        return super().dispatch(request, token, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        invitation = self.invitation
        context["invitation"] = invitation
        if user.is_authenticated:
            context["email_matches"] = user.email.lower() == invitation.email.lower()
        else:
            context["has_account"] = selectors.user_by_email(invitation.email) is not None
            context["login_url"] = f"{reverse('accounts:login')}?next={self.request.path}"
            context.setdefault("form", InvitationSignupForm(initial={"email": invitation.email}))
        return context

    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            try:
                membership = services.invitation_accept(token=self.token, user=request.user)
            except ApplicationError as exc:
                context = self.get_context_data(accept_error=exc.message)
                return self.render_to_response(context, status=400)
            services.organization_switch(
                user=request.user,
                organization_id=membership.organization_id,
                session=request.session,
            )
        else:
            if selectors.user_by_email(self.invitation.email) is not None:
                return redirect(f"{reverse('accounts:login')}?next={request.path}")
            form = InvitationSignupForm(data=request.POST, initial={"email": self.invitation.email})
            if not form.is_valid():
                return self.render_to_response(self.get_context_data(form=form), status=400)
            try:
                user, membership = services.invitation_signup(
                    token=self.token,
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password"],
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
                return self.render_to_response(self.get_context_data(form=form), status=400)
            _start_session(request, user, membership.organization)
        messages.success(
            request,
            _("Welcome to %(org)s!") % {"org": membership.organization.name},
        )
        return redirect("reports:dashboard")


# --- teams ---------------------------------------------------------------------------------------


class TeamListView(TeamPermissionMixin, TemplateView):
    template_name = "accounts/team_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        teams = (
            Team.objects.restrict(user, "view")
            .select_related("manager")
            .prefetch_related("members")
            .order_by("name")
        )
        context.update(
            page_obj=paginate(self.request, teams),
            can_create=can(user, "create", Team),
            can_edit=can(user, "edit", Team),
            can_delete=can(user, "delete", Team),
        )
        return context


class TeamFormView(TeamPermissionMixin, TemplateView):
    """Create (no ``pk``) or edit a team."""

    model = Team  # which records the pk names (tests/test_isolation.py)
    template_name = "accounts/team_form.html"

    @property
    def team_action(self):
        return "edit" if "pk" in self.kwargs else "create"

    def get_team(self):
        if "pk" not in self.kwargs:
            return None
        return _get_or_404(
            Team.objects.restrict(self.request.user, "edit").prefetch_related("members"),
            self.kwargs["pk"],
        )

    def get(self, request, *args, **kwargs):
        team = self.get_team()
        form = TeamForm(request=request, team=team)
        return self.render_to_response(self.get_context_data(form=form, team=team))

    def post(self, request, *args, **kwargs):
        team = self.get_team()
        form = TeamForm(data=request.POST, request=request, team=team)
        if form.is_valid():
            try:
                if team is None:
                    team = services.team_create(
                        org=request.organization, actor=request.user, **form.cleaned_data
                    )
                else:
                    team = services.team_update(team=team, actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, _("Team “%(name)s” saved.") % {"name": team.name})
                return redirect("accounts:team_list")
        return self.render_to_response(self.get_context_data(form=form, team=team), status=400)


class TeamDeleteView(TeamPermissionMixin, View):
    model = Team  # which records the pk names (tests/test_isolation.py)

    team_action = "delete"

    def post(self, request, pk):
        team = _get_or_404(Team.objects.restrict(request.user, "delete"), pk)
        services.team_delete(team=team, actor=request.user)
        messages.success(request, _("Team “%(name)s” moved to the trash.") % {"name": team.name})
        return _redirect(request, reverse("accounts:team_list"))


# --- permission matrix ------------------------------------------------------------------------


class PermissionMatrixView(SettingsPermissionMixin, TemplateView):
    """Record types × roles × actions; the owner's column is fixed; saving stores overrides."""

    template_name = "accounts/permission_matrix.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = selectors.permission_matrix(self.request.organization)
        tabs = []
        for role, role_label in Role.choices:
            tabs.append(
                {
                    "role": role,
                    "label": role_label,
                    "readonly": role == Role.OWNER,
                    "rows": [
                        {
                            "name": row.name,
                            "label": row.label,
                            "group": row.group,
                            "cells": [
                                {
                                    "action": action,
                                    "field": f"{role}|{row.label}|{action}",
                                    "checked": action in row.by_role[role],
                                }
                                for action in ACTIONS
                            ],
                        }
                        for row in rows
                    ],
                }
            )
        context.update(
            tabs=tabs, actions=[(a, ACTION_LABELS[a]) for a in ACTIONS], errors=kwargs.get("errors")
        )
        return context

    def post(self, request, *args, **kwargs):
        checked = set(request.POST)
        overrides: dict[str, dict[str, list[str]]] = {}
        for row in selectors.permission_matrix(request.organization):
            defaults = DEFAULT_MATRIX.get(row.group, DEFAULT_MATRIX["records"])
            for role in Role.values:
                if role == Role.OWNER:
                    continue
                chosen = {a for a in ACTIONS if f"{role}|{row.label}|{a}" in checked}
                if chosen != set(defaults.get(role, frozenset())):
                    overrides.setdefault(role, {})[row.label] = [a for a in ACTIONS if a in chosen]
        try:
            services.permission_matrix_update(
                organization=request.organization, actor=request.user, overrides=overrides
            )
        except PermissionDeniedError:
            raise PermissionDenied
        except ApplicationError as exc:
            errors = [m for msgs in exc.errors.values() for m in msgs]
            return self.render_to_response(self.get_context_data(errors=errors), status=400)
        messages.success(request, _("Permissions saved."))
        return redirect("accounts:permission_matrix")

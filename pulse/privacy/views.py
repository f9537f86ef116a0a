"""Privacy screens: consents, the contact page's Privacy card, export and erasure, requests."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from pulse.accounts.permissions import can, membership_for
from pulse.contacts.models import Contact
from pulse.core.errors import ApplicationError
from pulse.core.views import (
    RecordDeleteView,
    RecordDetailView,
    RecordFormView,
    RecordListView,
    RecordPermissionMixin,
)

from . import services
from .filtersets import ConsentRecordFilterSet, PrivacyRequestFilterSet
from .forms import ConsentRecordForm, EraseRequestForm, ExportRequestForm
from .models import ConsentRecord, PrivacyRequest, RequestStatus

# --- consents ---------------------------------------------------------------------------------


class ConsentRecordListView(RecordListView):
    """Every consent record the user may see: by contact, purpose, basis, source, state."""

    model = ConsentRecord
    filterset_class = ConsentRecordFilterSet
    select_related = ("contact",)
    ordering_fields = ("given_at", "purpose", "withdrawn_at", "created_at")
    default_ordering = "-given_at"
    template_name = "privacy/consentrecord_list.html"
    partial_template_name = "privacy/partials/consent_table.html"
    columns = [
        ("purpose", _("Purpose")),
        ("contact", _("Contact")),
        ("lawful_basis", _("Lawful basis")),
        ("source", _("Source")),
        ("given_at", _("Given")),
        ("withdrawn_at", _("Withdrawn")),
    ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["unsortable"] = {"contact", "lawful_basis", "source"}
        context["can_edit"] = can(self.request.user, "edit", ConsentRecord)
        return context


class ConsentRecordFormView(RecordFormView):
    """Record a consent (``?contact=<id>`` from the contact page) or correct one."""

    model = ConsentRecord
    form_class = ConsentRecordForm
    template_name = "privacy/consentrecord_form.html"
    success_message = _("Consent saved.")

    def perform(self, form, instance):
        fields = form.service_fields()
        fields.pop("custom_fields", None)
        if instance is None:
            return services.consent_record(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.consent_update(
            consent=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        known = ConsentRecord.objects.order_by().values_list("purpose", flat=True).distinct()
        defaults = [_("Newsletter"), _("Product updates"), _("Event invitations"), _("Sales calls")]
        context["purposes"] = sorted(set(defaults) | set(known[:50]))
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else reverse("privacy:consentrecord_list")
        )
        return context


def _delete_consent(*, instance, actor):
    return services.consent_delete(consent=instance, actor=actor)


class ConsentRecordDeleteView(RecordDeleteView):
    model = ConsentRecord
    delete_service = _delete_consent
    success_url_name = "privacy:consentrecord_list"


class ConsentWithdrawView(RecordPermissionMixin, View):
    """POST: mark a consent as withdrawn now."""

    model = ConsentRecord
    action = "edit"

    def post(self, request, pk):
        try:
            consent = self.get_queryset().select_related("contact").get(pk=pk)
        except (ConsentRecord.DoesNotExist, ValueError):
            raise Http404
        try:
            services.consent_withdraw(consent=consent, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Consent withdrawn."))
        return HttpResponseRedirect(consent.contact.get_absolute_url())


# --- the contact page's card, export and erasure --------------------------------------------


def _may_erase(user) -> bool:
    membership = membership_for(user)
    return membership is not None and membership.is_admin


class ContactPrivacyView(RecordDetailView):
    """The contact page's Privacy card (htmx): consents, export, erase."""

    model = Contact
    template_name = "privacy/partials/contact_privacy.html"
    partial_template_name = "privacy/partials/contact_privacy.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        contact = self.object
        context.update(
            contact=contact,
            consents=list(
                ConsentRecord.objects.restrict(user, "view")
                .filter(contact=contact)
                .order_by("withdrawn_at", "-given_at")[:50]
            ),
            can_record=can(user, "create", ConsentRecord),
            can_edit_consent=can(user, "edit", ConsentRecord),
            can_export=can(user, "export", Contact) and can(user, "create", PrivacyRequest),
            can_erase=_may_erase(user) and can(user, "create", PrivacyRequest),
        )
        return context


class ContactExportView(RecordPermissionMixin, View):
    """POST: export everything held about the contact (JSON), then show the request."""

    model = Contact
    action = "view"

    def post(self, request, pk):
        if not can(request.user, "create", PrivacyRequest):
            raise PermissionDenied(_("Your role does not allow this."))
        try:
            contact = self.get_queryset().get(pk=pk)
        except (Contact.DoesNotExist, ValueError):
            raise Http404
        form = ExportRequestForm(request.POST, request=request)
        form.is_valid()
        try:
            privacy_request = services.privacy_export(
                org=request.organization,
                actor=request.user,
                contact=contact,
                notes=form.cleaned_data.get("notes", ""),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(contact.get_absolute_url())
        if privacy_request.status == RequestStatus.COMPLETED:
            messages.success(request, _("The export is ready to download."))
        else:
            messages.info(
                request, _("The export is being prepared; this page shows when it is ready.")
            )
        return HttpResponseRedirect(privacy_request.get_absolute_url())


class ContactEraseView(RecordPermissionMixin, View):
    """GET: what an erasure does, and the typed confirmation; POST: erase (admins, owners)."""

    model = Contact
    action = "edit"
    template_name = "privacy/contact_erase.html"

    def _contact(self, pk):
        try:
            return self.get_queryset().select_related("company").get(pk=pk)
        except (Contact.DoesNotExist, ValueError):
            raise Http404

    def _check(self, request):
        if not (_may_erase(request.user) and can(request.user, "create", PrivacyRequest)):
            raise PermissionDenied(_("Only owners and admins may erase a contact's data."))

    def get(self, request, pk):
        contact = self._contact(pk)
        self._check(request)
        return self._render(request, contact, EraseRequestForm(request=request))

    def post(self, request, pk):
        contact = self._contact(pk)
        self._check(request)
        form = EraseRequestForm(request.POST, request=request)
        if form.is_valid():
            try:
                privacy_request = services.privacy_erase(
                    org=request.organization,
                    actor=request.user,
                    contact=contact,
                    confirmation=form.cleaned_data["confirmation"],
                    notes=form.cleaned_data.get("notes", ""),
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, _("The contact's personal data was erased."))
                return HttpResponseRedirect(privacy_request.get_absolute_url())
        return self._render(request, contact, form, status=400)

    def _render(self, request, contact, form, status=200):
        context = {
            "contact": contact,
            "object": contact,
            "form": form,
            "word": services.ERASE_CONFIRMATION,
        }
        return render(request, self.template_name, context, status=status)


# --- requests ---------------------------------------------------------------------------------


class PrivacyRequestListView(RecordListView):
    """Every export and erasure request the user may see (admins: all), newest first."""

    model = PrivacyRequest
    filterset_class = PrivacyRequestFilterSet
    select_related = ("requested_by", "contact")
    ordering_fields = ("created_at", "completed_at", "kind", "status")
    default_ordering = "-created_at"
    template_name = "privacy/privacyrequest_list.html"
    partial_template_name = "privacy/partials/request_table.html"
    columns = [
        ("kind", _("Kind")),
        ("subject_label", _("Subject")),
        ("status", _("Status")),
        ("requested_by", _("Requested by")),
        ("created_at", _("Requested")),
        ("completed_at", _("Completed")),
        ("file", _("File")),
    ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["unsortable"] = {"subject_label", "requested_by", "file"}
        return context


class PrivacyRequestDetailView(RecordDetailView):
    """One request: what, about whom, who asked, when, its state and download."""

    model = PrivacyRequest
    select_related = ("requested_by", "contact", "created_by")
    template_name = "privacy/privacyrequest_detail.html"


class PrivacyRequestDownloadView(RecordDetailView):
    """The export file, as an attachment, to people who may see the request and export."""

    model = PrivacyRequest

    def get(self, request, *args, **kwargs):
        privacy_request = self.get_object()
        if not can(request.user, "export", Contact):
            raise PermissionDenied(_("Your role does not allow exporting contact data."))
        if not privacy_request.export_file:
            raise Http404
        try:
            handle = default_storage.open(privacy_request.export_file, "rb")
        except FileNotFoundError:
            raise Http404
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"privacy-export-{str(privacy_request.pk)[:8]}.json",
            content_type="application/json",
        )

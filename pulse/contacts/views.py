"""Contact and company screens: thin views over the generic record views (DESIGN).

Querysets come from the base classes (``restrict``); writes go through services.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View

from pulse.accounts.permissions import can
from pulse.core.errors import ApplicationError
from pulse.core.views import (
    OrganizationRequiredMixin,
    RecordDeleteView,
    RecordDetailView,
    RecordFormView,
    RecordListView,
)
from pulse.extras.models import Tag

from . import selectors, services
from .filtersets import (
    COMPANY_ORDERINGS,
    CONTACT_ORDERINGS,
    CompanyFilterSet,
    ContactFilterSet,
    order_terms,
)
from .forms import BulkActionForm, CompanyForm, ContactForm
from .models import Company, Contact, LifecycleStage

# --- shared pieces ------------------------------------------------------------------


class ListPageMixin:
    """What both list pages add to ``RecordListView``: index-friendly ordering,
    saved views, permissions for the buttons, and the bulk bar."""

    orderings: dict[str, tuple] = {}
    bulk_url_name = ""
    create_url_name = ""
    has_stage = False

    def get_ordering(self):
        return order_terms(
            self.model, self.orderings, self.request.GET.get("ordering", ""), self.default_ordering
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            can_create=can(user, "create", self.model),
            can_edit=can(user, "edit", self.model),
            can_delete=can(user, "delete", self.model),
            bulk_url=reverse(self.bulk_url_name),
            create_url=reverse(self.create_url_name),
            saved_views=_saved_views(user, self.model),
            page_sizes=(25, 50, 100, 200),
            filters_open=any(
                value
                for key, value in self.request.GET.items()
                if key not in {"search", "ordering", "page", "page_size"}
            ),
        )
        # Owners and tags are listed once and shared by the filter bar and the bulk bar
        # (a template {% for %} over a queryset would count it first, then fetch it).
        members = list(_members(self.request))
        tags = list(Tag.objects.restrict(user, "view").order_by("name"))
        form = self.filterset.form if self.filterset is not None else None
        if form is not None:
            form.fields["assigned_to"].widget.choices = [(m.pk, str(m)) for m in members]
            form.fields["tags"].widget.choices = [(t.pk, t.name) for t in tags]
        if context["can_edit"] or context["can_delete"]:
            context.update(
                bulk_form=BulkActionForm(request=self.request, with_stage=self.has_stage),
                bulk_members=members,
                bulk_tags=tags,
            )
        return context


def _members(request):
    from pulse.accounts.selectors import organization_members

    return organization_members(request.organization)


def _saved_views(user, model):
    from pulse.extras.selectors import saved_views_for

    return saved_views_for(user, model)


def _detail_context(view, obj) -> dict:
    """Permissions, the timeline (record history until activities exist) and History URL."""
    from pulse.audit.selectors import history_for

    user = view.request.user
    content_type = ContentType.objects.get_for_model(type(obj), for_concrete_model=False)
    return {
        "content_type_id": content_type.pk,
        "timeline": list(history_for(obj)[:20]),
        "can_edit": can(user, "edit", type(obj)),
        "can_delete": can(user, "delete", type(obj)),
        "custom_field_values": _custom_field_values(obj),
    }


def _custom_field_values(obj) -> list[tuple[str, str]]:
    """(label, shown value) for each custom field defined on this record type."""
    from pulse.extras.customfields import definitions_for

    values = obj.custom_fields or {}
    shown = []
    for definition in definitions_for(type(obj)):
        value = values.get(definition.key)
        if isinstance(value, bool):
            value = _("Yes") if value else _("No")
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        shown.append((definition.label, "" if value is None else str(value)))
    return shown


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


class BulkActionView(OrganizationRequiredMixin, View):
    """POST: apply one action to the selected rows of a list page, all or nothing."""

    model = None
    service = None
    list_url_name = ""
    has_stage = False

    def post(self, request):
        form = BulkActionForm(request.POST, request=request, with_stage=self.has_stage)
        back = _safe_next(request, reverse(self.list_url_name))
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        action = data["action"]
        permission = "delete" if action == "delete" else "edit"
        if not can(request.user, permission, self.model):
            raise PermissionDenied(_("Your role does not allow this."))
        records = self.model.objects.restrict(request.user, permission).filter(pk__in=data["ids"])
        try:
            count = type(self).service(
                records.prefetch_related("tags"),
                actor=request.user,
                action=action,
                assigned_to=data.get("assigned_to"),
                tags=[data["tag"]] if data.get("tag") else [],
                stage=data.get("lifecycle_stage"),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                ngettext("%(count)d record updated.", "%(count)d records updated.", count)
                % {"count": count}
                if action != "delete"
                else ngettext(
                    "%(count)d record moved to the trash.",
                    "%(count)d records moved to the trash.",
                    count,
                )
                % {"count": count},
            )
        return HttpResponseRedirect(back)


class OptionsView(OrganizationRequiredMixin, View):
    """JSON choices for searchable selects: ``[{"value": id, "text": label}]``."""

    model = None
    search_fields: tuple[str, ...] = ()
    order = ("name",)
    limit = 20

    def get(self, request):
        if not can(request.user, "view", self.model):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()[:100]
        qs = self.model.objects.restrict(request.user, "view")
        if query:
            qs = selectors.apply_search(qs, query, self.search_fields)
        rows = qs.order_by(*self.order).only("pk", *self.order)[: self.limit]
        return JsonResponse({"results": [{"value": str(r.pk), "text": str(r)} for r in rows]})


# --- contacts -------------------------------------------------------------------------


class ContactListView(ListPageMixin, RecordListView):
    """All contacts the user may see: search, filters, sort, pages, bulk actions."""

    model = Contact
    filterset_class = ContactFilterSet
    select_related = selectors.CONTACT_LIST_SELECT_RELATED
    prefetch_related = selectors.CONTACT_LIST_PREFETCH_RELATED
    orderings = CONTACT_ORDERINGS
    ordering_fields = tuple(CONTACT_ORDERINGS)
    template_name = "contacts/contact_list.html"
    partial_template_name = "contacts/partials/contact_table.html"
    bulk_url_name = "contacts:contact_bulk"
    create_url_name = "contacts:contact_create"
    has_stage = True
    columns = [
        ("name", _("Name")),
        ("email", _("Email")),
        ("phone", _("Phone")),
        ("company", _("Company")),
        ("lifecycle_stage", _("Stage")),
        ("assigned_to", _("Owner")),
        ("tags", _("Tags")),
        ("created_at", _("Created")),
    ]
    # Columns that cannot be sorted.
    unsortable = frozenset({"phone", "tags"})

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["unsortable"] = self.unsortable
        context["stages"] = LifecycleStage
        return context


class ContactDetailView(RecordDetailView):
    """One contact: key facts, Overview, Timeline and History tabs."""

    model = Contact
    select_related = selectors.CONTACT_DETAIL_SELECT_RELATED
    prefetch_related = ("tags",)
    template_name = "contacts/contact_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contact = self.object
        context.update(_detail_context(self, contact))
        context["consents"] = [
            (label, getattr(contact, name), getattr(contact, f"get_{name}_display")())
            for name, label in (
                ("email_opt_in", _("Email")),
                ("phone_opt_in", _("Phone calls")),
                ("sms_opt_in", _("SMS")),
            )
        ]
        return context


class ContactFormView(RecordFormView):
    """New contact (no ``pk``) or edit one; the service decides, errors land on the form."""

    model = Contact
    form_class = ContactForm
    template_name = "contacts/record_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.contact_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.contact_update(
            contact=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else reverse("contacts:contact_list")
        )
        return context


def _delete_contact(*, instance, actor):
    return services.contact_delete(contact=instance, actor=actor)


class ContactDeleteView(RecordDeleteView):
    model = Contact
    delete_service = _delete_contact
    success_url_name = "contacts:contact_list"


class ContactBulkView(BulkActionView):
    model = Contact
    list_url_name = "contacts:contact_list"
    has_stage = True

    @staticmethod
    def service(records, **params):
        return services.contact_bulk_action(contacts=records, **params)


# --- companies ------------------------------------------------------------------------


class CompanyListView(ListPageMixin, RecordListView):
    """All companies the user may see, with their contact counts."""

    model = Company
    filterset_class = CompanyFilterSet
    select_related = selectors.COMPANY_LIST_SELECT_RELATED
    prefetch_related = selectors.COMPANY_LIST_PREFETCH_RELATED
    orderings = COMPANY_ORDERINGS
    ordering_fields = tuple(COMPANY_ORDERINGS)
    default_ordering = "name"
    template_name = "contacts/company_list.html"
    partial_template_name = "contacts/partials/company_table.html"
    bulk_url_name = "contacts:company_bulk"
    create_url_name = "contacts:company_create"
    columns = [
        ("name", _("Name")),
        ("domain", _("Domain")),
        ("industry", _("Industry")),
        ("country", _("Country")),
        ("contacts", _("Contacts")),
        ("assigned_to", _("Owner")),
        ("tags", _("Tags")),
        ("created_at", _("Created")),
    ]
    unsortable = frozenset({"contacts", "tags"})

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = context["object_list"]
        counts = selectors.contacts_counts(company_ids=[c.pk for c in rows], user=self.request.user)
        for company in rows:
            company.contacts_count = counts.get(company.pk, 0)
        context["unsortable"] = self.unsortable
        return context


class CompanyDetailView(RecordDetailView):
    """One company: key facts, its contacts, its hierarchy with totals, history."""

    model = Company
    select_related = selectors.COMPANY_DETAIL_SELECT_RELATED
    prefetch_related = ("tags",)
    template_name = "contacts/company_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        company = self.object
        contacts, contacts_total = selectors.company_contacts(company=company, user=user)
        context.update(
            _detail_context(self, company),
            contacts=contacts,
            contacts_total=contacts_total,
            ancestors=selectors.company_ancestors(company=company, user=user),
            tree=selectors.company_tree(company=company, user=user),
            can_create_contact=can(user, "create", Contact),
        )
        return context


class CompanyFormView(RecordFormView):
    """New company or edit one."""

    model = Company
    form_class = CompanyForm
    template_name = "contacts/record_form.html"

    def perform(self, form, instance):
        fields = form.service_fields()
        if instance is None:
            return services.company_create(
                org=self.request.organization, actor=self.request.user, **fields
            )
        return services.company_update(
            company=instance,
            actor=self.request.user,
            expected_version=form.cleaned_data.get("expected_version"),
            **fields,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = (
            self.object.get_absolute_url() if self.object else reverse("contacts:company_list")
        )
        return context


def _delete_company(*, instance, actor):
    return services.company_delete(company=instance, actor=actor)


class CompanyDeleteView(RecordDeleteView):
    model = Company
    delete_service = _delete_company
    success_url_name = "contacts:company_list"


class CompanyBulkView(BulkActionView):
    model = Company
    list_url_name = "contacts:company_list"

    @staticmethod
    def service(records, **params):
        return services.company_bulk_action(companies=records, **params)


class CompanyOptionsView(OptionsView):
    model = Company
    search_fields = selectors.COMPANY_SEARCH_FIELDS

"""Contact and company screens: thin views over the generic record views (DESIGN).

Querysets come from the base classes (``restrict``); writes go through services.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
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
    RecordPermissionMixin,
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
from .forms import (
    BulkActionForm,
    CompanyForm,
    ContactForm,
    InlineEditForm,
    QuickCompanyForm,
    QuickContactForm,
)
from .models import Company, Contact, ContactRelationship
from .widgets import options_html

# --- shared pieces ------------------------------------------------------------------


class ListPageMixin:
    """What both list pages add to ``RecordListView``: index-friendly ordering,
    saved views, permissions for the buttons, and the bulk bar."""

    orderings: dict[str, tuple] = {}
    bulk_url_name = ""
    create_url_name = ""
    has_stage = False
    # List features (H3): the column chooser, inline edit, bulk jobs, export.
    inline_url_name = ""
    export_target = ""

    def get(self, request, *args, **kwargs):
        from . import tables

        # The chosen columns decide what the rows join (rule 7: only what is shown).
        self.table = tables.table_for(self.model, request)
        self.select_related = self.table.select_related
        self.prefetch_related = self.table.prefetch_related
        return super().get(request, *args, **kwargs)

    def cell_context_extra(self, rows) -> dict:
        """Per-page data some columns need (e.g. contact counts); none by default."""
        return {}

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
                if key not in {"search", "ordering", "page", "page_size", "columns"}
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
                bulk_member_options=options_html((m.pk, str(m)) for m in members),
                bulk_tags=tags,
            )
        context.update(_list_features_context(self, context, members))
        return context


def _members(request) -> list:
    """The organization's members (filter bar, bulk bar, user cells), read once per request."""
    from .filtersets import members_list

    return members_list(request)


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
        if data.get("select_all"):
            return _start_bulk_job(self, request, data, back)
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
    inline_url_name = "contacts:contact_inline_edit"
    export_target = "contacts"


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
        context.update(_relationship_context(self, contact))  # H1
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
        _warn_about_duplicates(self, form, fields, instance)  # dedupe: may re-show the form
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
    inline_url_name = "contacts:company_inline_edit"
    export_target = "companies"

    def cell_context_extra(self, rows) -> dict:
        if not self.table.shows("contacts"):
            return {}  # no count query for a hidden column
        counts = selectors.contacts_counts(company_ids=[c.pk for c in rows], user=self.request.user)
        for company in rows:
            company.contacts_count = counts.get(company.pk, 0)
        return {"contacts_counts": counts}


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
        _warn_about_duplicates(self, form, fields, instance)  # dedupe: may re-show the form
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


# --- list features: columns, inline edit, bulk jobs, quick create (H3) -------------------

# Bulk jobs this browser started, shown as progress bars on the list pages until seen done.
SESSION_JOBS = "pulse.bulk_jobs"


def _export_url(target: str) -> str:
    """The export page of the list (the imports app); empty until it exists."""
    from django.urls import NoReverseMatch

    try:
        return reverse("imports:export", args=[target])
    except NoReverseMatch:
        return ""


def _list_features_context(view, context, members) -> dict:
    """What the list templates need for the chosen columns, the bulk bar and jobs."""
    from . import tables

    request = view.request
    table = view.table
    records = list(context["object_list"])
    can_edit = context["can_edit"]
    cell_context = tables.CellContext(
        org=request.organization,
        can_edit=can_edit,
        inline_url=tables.inline_url_builder(view.inline_url_name) if can_edit else None,
        members={m.pk: m for m in members},
        **view.cell_context_extra(records),
    )
    filters = request.GET.copy()
    for name in ("page", "page_size", "ordering", tables.COLUMNS_PARAM):
        filters.pop(name, None)
    can_export = can(request.user, "export", view.model)
    return {
        "table": table,
        "default_columns": ",".join(tables.default_keys(view.model)),
        "rows": _table_rows(
            table.rows(records, cell_context),
            with_checkbox=bool(context.get("bulk_form")),
            can_edit=can_edit,
        ),
        "filter_query": filters.urlencode(),
        "export_url": _export_url(view.export_target) if can_export else "",
        "export_formats": (("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("vcf", "vCard"))
        if view.model is Contact
        else (("csv", "CSV"), ("xlsx", "Excel (XLSX)")),
        "bulk_jobs": list(request.session.get(SESSION_JOBS, [])),
    }


class TableRow(tuple):
    """``(record, cells)`` of a list's table body, with the row's whole ``<tr>`` in
    ``html``: one string join per row instead of a template loop over the cells (the
    loop was a quarter of a list page's template time)."""

    def __new__(cls, record, cells, html):
        row = super().__new__(cls, (record, cells))
        row.html = html
        return row


def _table_rows(rows, *, with_checkbox: bool, can_edit: bool) -> list[TableRow]:
    """``contacts/partials/record_table.html``'s rows, rendered in Python."""
    if not rows:
        return []
    # The column attributes are the same on every row.
    openers = {}
    for column, _html in rows[0][1]:
        css = column.css + (" cell-editable" if can_edit and column.editable else "")
        openers[column.key] = format_html('<td class="{}" data-column="{}">', css, column.key)
    select_label = _("Select %(record)s")
    result = []
    for record, cells in rows:
        parts = [
            format_html('<tr data-record-id="{}" data-version="{}">', record.pk, record.version)
        ]
        if with_checkbox:
            parts.append(
                format_html(
                    '<td><input type="checkbox" class="form-check-input" name="ids" value="{}" '
                    'form="bulk-form" data-bulk-row aria-label="{}"></td>',
                    record.pk,
                    select_label % {"record": record},
                )
            )
        for column, html in cells:
            parts.append(openers[column.key])
            parts.append(conditional_escape(html))
            parts.append("</td>")
        parts.append("</tr>")
        result.append(TableRow(record, cells, mark_safe("".join(parts))))  # noqa: S308
    return result


def _start_bulk_job(view, request, data, back: str):
    """ "Select all N matching": the action runs in the background over the list filter."""
    params = {
        "tag": str(data["tag"].pk) if data.get("tag") else None,
        "assigned_to": data["assigned_to"].pk if data.get("assigned_to") else None,
        "lifecycle_stage": data.get("lifecycle_stage") or None,
    }
    try:
        job = services.bulk_job_start(
            org=request.organization,
            actor=request.user,
            model=view.model,
            action=data["action"],
            params=params,
            query=data.get("query") or "",
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(back)
    jobs = [j for j in request.session.get(SESSION_JOBS, []) if j != str(job.pk)]
    request.session[SESSION_JOBS] = [*jobs, str(job.pk)][-5:]
    messages.info(
        request,
        ngettext(
            "Working on %(count)d record in the background.",
            "Working on %(count)d records in the background.",
            job.total,
        )
        % {"count": job.total},
    )
    return HttpResponseRedirect(back)


class InlineEditView(RecordPermissionMixin, View):
    """One cell of a list, edited in place: GET the little form, POST it.

    ``?column=<key>`` names the cell; the update service checks the row's version, so
    a stale edit shows the conflict instead of overwriting. A cancelled or saved edit
    answers with the cell as the list draws it.
    """

    action = "edit"
    model = None
    inline_url_name = ""
    template_name = "contacts/partials/inline_edit_form.html"

    def update(self, record, **fields):  # pragma: no cover - abstract
        raise NotImplementedError

    def _record_and_column(self, pk):
        from . import tables

        record = self.get_queryset().filter(pk=pk).first()
        if record is None:
            raise Http404
        key = self.request.GET.get("column", "")
        column = next((c for c in tables.available_columns(self.model) if c.key == key), None)
        if column is None or not column.editable:
            raise Http404
        return record, column

    def _url(self, record, column) -> str:
        from . import tables

        return tables.inline_url_builder(self.inline_url_name)(record.pk, column.key)

    def _form_response(self, form, record, column, status=200):
        url = self._url(record, column)
        context = {"form": form, "record": record, "column": column, "url": url}
        if not getattr(self.request, "htmx", False) and status == 200 and form.is_bound:
            status = 400
        return render(self.request, self.template_name, context, status=status)

    def _cell_response(self, record, column, *, saved: bool = False):
        from . import tables

        record = (
            self.get_queryset()
            .select_related(*column.select_related)
            .prefetch_related(*column.prefetch_related)
            .get(pk=record.pk)
        )
        members = {}
        if column.key.startswith(tables.CUSTOM_PREFIX):
            members = {m.pk: m for m in _members(self.request)}
        cell = column.cell(
            record,
            tables.CellContext(
                org=self.request.organization,
                can_edit=True,
                inline_url=tables.inline_url_builder(self.inline_url_name),
                members=members,
            ),
        )
        response = HttpResponse(cell)
        if saved:
            response["HX-Trigger"] = json.dumps(
                {"pulse:rowVersion": {"id": str(record.pk), "version": record.version}}
            )
        return response

    def get(self, request, pk):
        record, column = self._record_and_column(pk)
        if request.GET.get("cancel"):
            return self._cell_response(record, column)
        version = request.GET.get("version", "")
        form = InlineEditForm(
            request=request,
            instance=record,
            names=column.edit_fields,
            initial={"expected_version": int(version) if version.isdigit() else record.version},
        )
        return self._form_response(form, record, column)

    def post(self, request, pk):
        record, column = self._record_and_column(pk)
        form = InlineEditForm(
            data=request.POST, request=request, instance=record, names=column.edit_fields
        )
        if form.is_valid():
            try:
                saved = self.update(
                    record,
                    expected_version=form.cleaned_data.get("expected_version"),
                    **form.service_fields(),
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                return self._cell_response(saved, column, saved=True)
        return self._form_response(form, record, column)


class ContactInlineEditView(InlineEditView):
    model = Contact
    inline_url_name = "contacts:contact_inline_edit"

    def update(self, record, **fields):
        return services.contact_update(contact=record, actor=self.request.user, **fields)


class CompanyInlineEditView(InlineEditView):
    model = Company
    inline_url_name = "contacts:company_inline_edit"

    def update(self, record, **fields):
        return services.company_update(company=record, actor=self.request.user, **fields)


class QuickCreateView(RecordPermissionMixin, View):
    """The short "New …" dialog of the top bar (htmx into a modal; a page without htmx).

    Before saving it looks for duplicates (``pulse.contacts.dedupe``) and, if any,
    shows them with "Save anyway"; a saved record answers with an ``HX-Trigger`` the
    page turns into a toast linking to it.
    """

    action = "create"
    model = None
    form_class = None
    url_name = ""
    partial_template_name = "contacts/partials/quick_create.html"
    template_name = "contacts/quick_create.html"

    def find_duplicates(self, fields):  # pragma: no cover - abstract
        raise NotImplementedError

    def create(self, fields):  # pragma: no cover - abstract
        raise NotImplementedError

    def _render(self, form, duplicates=(), status=200):
        htmx = getattr(self.request, "htmx", False)
        context = {
            "form": form,
            "duplicates": list(duplicates),
            "url": reverse(self.url_name),
            "opts": self.model._meta,
        }
        if not htmx and form.is_bound and status == 200 and not duplicates:
            status = 400
        template = self.partial_template_name if htmx else self.template_name
        return render(self.request, template, context, status=status)

    def get(self, request):
        return self._render(self.form_class(request=request))

    def post(self, request):
        form = self.form_class(data=request.POST, request=request)
        duplicates = []
        if form.is_valid():
            fields = form.service_fields()
            if not form.cleaned_data.get("confirm_duplicates"):
                duplicates = self.find_duplicates(fields)
            if not duplicates:
                try:
                    record = self.create(fields)
                except ApplicationError as exc:
                    form.add_application_error(exc)
                else:
                    return self._created(record)
        return self._render(form, duplicates)

    def _created(self, record):
        message = _("“%(name)s” created.") % {"name": record}
        if not getattr(self.request, "htmx", False):
            messages.success(self.request, message)
            return HttpResponseRedirect(record.get_absolute_url())
        response = render(
            self.request,
            "contacts/partials/quick_create_done.html",
            {"record": record, "message": message, "opts": self.model._meta},
        )
        response["HX-Trigger"] = json.dumps(
            {
                "pulse:quickCreated": {
                    "message": message,
                    "url": record.get_absolute_url(),
                    "label": str(_("Open")),
                }
            }
        )
        return response


class ContactQuickCreateView(QuickCreateView):
    model = Contact
    form_class = QuickContactForm
    url_name = "contacts:contact_quick_create"

    def find_duplicates(self, fields):
        from .dedupe import contact_duplicates

        return contact_duplicates(
            org=self.request.organization, user=self.request.user, fields=fields
        )

    def create(self, fields):
        return services.contact_create(
            org=self.request.organization, actor=self.request.user, **fields
        )


class CompanyQuickCreateView(QuickCreateView):
    model = Company
    form_class = QuickCompanyForm
    url_name = "contacts:company_quick_create"

    def find_duplicates(self, fields):
        from .dedupe import company_duplicates

        return company_duplicates(
            org=self.request.organization, user=self.request.user, fields=fields
        )

    def create(self, fields):
        return services.company_create(
            org=self.request.organization, actor=self.request.user, **fields
        )


# --- dedupe and merge (H2): duplicate warnings, the Duplicates page, merge and undo -------------


class DuplicatesFound(ApplicationError):
    """Raised in a form view's ``perform`` to re-show the form with the duplicate warning.

    It carries no message: the warning box above the form (not a form error) says what
    was found, and its "Save anyway" sends the same data again with confirm_duplicates=1.
    """

    def __init__(self, matches):
        super().__init__(errors={"__all__": []})
        self.matches = matches


# The fields duplicate detection looks at; an edit that changes none of them is not checked.
DUPLICATE_FIELDS = {
    Contact: ("first_name", "last_name", "email", "other_emails", "phone", "mobile", "company"),
    Company: ("name", "website", "domain"),
}


def _touches_duplicate_fields(instance, fields: dict) -> bool:
    # The ModelForm has already copied the input onto ``instance``: compare with what
    # came from the database.
    loaded = getattr(instance, "_loaded_values", {})
    for name in DUPLICATE_FIELDS[type(instance)]:
        if name not in fields:
            continue
        attname = instance._meta.get_field(name).attname
        new, old = fields[name], loaded.get(attname)
        new = getattr(new, "pk", new)
        if (new or "") != (old or ""):
            return True
    return False


def _find_duplicates(request, model, fields: dict, exclude_pk=None, limit=5):
    from .dedupe import company_duplicates, contact_duplicates

    finder = contact_duplicates if model is Contact else company_duplicates
    return finder(
        org=request.organization,
        user=request.user,
        fields=fields,
        exclude_pk=exclude_pk,
        limit=limit,
    )


def _warn_about_duplicates(view, form, fields: dict, instance) -> None:
    """Stop a create (or an edit of the identifying fields) that matches existing records,
    unless the person confirmed with "Save anyway"."""
    request = view.request
    if request.POST.get("confirm_duplicates") == "1":
        return
    if instance is not None and not _touches_duplicate_fields(instance, fields):
        return
    matches = _find_duplicates(
        request, view.model, fields, exclude_pk=instance.pk if instance else None
    )
    if not matches:
        return
    view.template_name = "contacts/duplicate_form.html"
    view.extra_context = {
        "duplicates": matches,
        "resubmit": [
            (name, value)
            for name, values in request.POST.lists()
            if name not in ("csrfmiddlewaretoken", "confirm_duplicates")
            for value in values
        ],
    }
    raise DuplicatesFound(matches)


def _kind_of(request) -> str:
    kind = request.GET.get("type") or request.POST.get("type")
    return "companies" if kind == "companies" else "contacts"


def _uuids(values) -> list:
    import uuid

    found = []
    for value in values:
        try:
            found.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return found


def _model_of(kind: str):
    return Company if kind == "companies" else Contact


class DuplicateListView(OrganizationRequiredMixin, View):
    """Likely duplicate pairs (contacts or companies), best first, from the last scan.

    The scan runs as a background task (``contacts.scan_duplicates``); the page starts
    one when there is none and polls until it is done.
    """

    paginate_by = 25

    def get(self, request):
        from django.core.paginator import Paginator
        from django.utils.dateparse import parse_datetime

        from . import dedupe

        kind = _kind_of(request)
        model = _model_of(kind)
        if not can(request.user, "view", model):
            raise PermissionDenied(_("Your role does not allow this."))
        org = request.organization
        pairs, computed_at = dedupe.duplicate_pairs(org=org, user=request.user, kind=kind)
        if pairs is None and not dedupe.scan_running(org=org, kind=kind):
            dedupe.request_scan(org=org, actor=request.user, kind=kind)
            pairs, computed_at = dedupe.duplicate_pairs(org=org, user=request.user, kind=kind)
        page = Paginator(pairs or [], self.paginate_by).get_page(request.GET.get("page"))
        context = {
            "kind": kind,
            "opts": model._meta,
            "page_obj": page,
            "pairs": dedupe.load_pairs(user=request.user, kind=kind, rows=list(page)),
            "total": len(pairs or []),
            "computed_at": parse_datetime(computed_at) if computed_at else None,
            "scanning": pairs is None or dedupe.scan_running(org=org, kind=kind),
            "can_merge": can(request.user, "edit", model) and can(request.user, "delete", model),
            "can_dismiss": dedupe.dismissal_model() is not None,
            "querystring": f"type={kind}",
            "merge_url_name": "contacts:contact_merge"
            if kind == "contacts"
            else "contacts:company_merge",
        }
        return render(request, "contacts/duplicate_list.html", context)


class DuplicateScanView(OrganizationRequiredMixin, View):
    """POST: look for duplicates again (in the background)."""

    def post(self, request):
        from . import dedupe

        kind = _kind_of(request)
        if not can(request.user, "view", _model_of(kind)):
            raise PermissionDenied(_("Your role does not allow this."))
        if dedupe.request_scan(org=request.organization, actor=request.user, kind=kind):
            messages.info(request, _("Looking for duplicates…"))
        return HttpResponseRedirect(f"{reverse('contacts:duplicate_list')}?type={kind}")


class DuplicateDismissView(OrganizationRequiredMixin, View):
    """POST: "Not a duplicate" for one pair; the page stops listing it."""

    def post(self, request):
        kind = _kind_of(request)
        model = _model_of(kind)
        back = f"{reverse('contacts:duplicate_list')}?type={kind}"
        if not can(request.user, "edit", model):
            raise PermissionDenied(_("Your role does not allow this."))
        ids = _uuids(request.POST.getlist("id")[:2])
        records = list(model.objects.restrict(request.user, "view").filter(pk__in=ids))
        if len(ids) != 2 or len(records) != 2:
            raise Http404
        try:
            services.duplicate_dismiss(
                org=request.organization,
                actor=request.user,
                kind=kind,
                first=records[0],
                second=records[1],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The pair will no longer be listed."))
        return HttpResponseRedirect(_safe_next(request, back))


class MergeView(RecordPermissionMixin, View):
    """Merge another record into this one: pick it, compare side by side, confirm.

    GET without ``other``: likely duplicates and a search to pick from. GET with
    ``other``: both records with a radio per differing field. POST: merge.
    """

    action = "edit"
    model = None
    merge_service = None
    template_name = "contacts/merge.html"

    def _record(self, pk):
        try:
            return self.get_queryset().get(pk=pk)
        except (self.model.DoesNotExist, ValueError):
            raise Http404

    def _other(self, value, record):
        ids = _uuids([value])
        if not ids or ids[0] == record.pk:
            return None
        return self.model.objects.restrict(self.request.user, "edit").filter(pk=ids[0]).first()

    def _context(self, record, other, **extra):
        from . import dedupe

        opts = self.model._meta
        context = {
            "object": record,
            "other": other,
            "opts": opts,
            "merge_url": reverse(f"contacts:{opts.model_name}_merge", args=[record.pk]),
            **extra,
        }
        if other is None:
            query = self.request.GET.get("q", "").strip()[:100]
            fields = {f: getattr(record, f) for f in DUPLICATE_FIELDS[self.model]}
            candidates = _find_duplicates(self.request, self.model, fields, record.pk, 10)
            found = []
            if query:
                search_fields = (
                    selectors.CONTACT_SEARCH_FIELDS
                    if self.model is Contact
                    else selectors.COMPANY_SEARCH_FIELDS
                )
                qs = self.model.objects.restrict(self.request.user, "edit").exclude(pk=record.pk)
                found = list(selectors.apply_search(qs, query, search_fields)[:10])
            context.update(candidates=candidates, found=found, query=query)
        else:
            context["rows"] = dedupe.merge_rows(record, other)
        return context

    def get(self, request, pk):
        record = self._record(pk)
        if not can(request.user, "delete", self.model):
            raise PermissionDenied(_("Your role does not allow this."))
        other = self._other(request.GET.get("other"), record) if request.GET.get("other") else None
        if request.GET.get("other") and other is None:
            raise Http404
        return render(request, self.template_name, self._context(record, other))

    def post(self, request, pk):
        record = self._record(pk)
        if not can(request.user, "delete", self.model):
            raise PermissionDenied(_("Your role does not allow this."))
        other = self._other(request.POST.get("other"), record)
        if other is None:
            raise Http404
        values = {key[2:]: value for key, value in request.POST.items() if key.startswith("v:")}
        try:
            result = type(self).merge_service(
                survivor=record, other=other, actor=request.user, values=values
            )
        except ApplicationError as exc:
            errors = [m for ms in exc.errors.values() for m in ms]
            context = self._context(record, other, errors=errors)
            return render(request, self.template_name, context, status=400)
        messages.success(
            request,
            _("“%(other)s” was merged into “%(survivor)s”. You can undo it on this page.")
            % {"other": result.merged, "survivor": result.survivor},
        )
        return HttpResponseRedirect(result.survivor.get_absolute_url())


class ContactMergeView(MergeView):
    model = Contact

    @staticmethod
    def merge_service(**kwargs):
        return services.contact_merge(**kwargs)


class CompanyMergeView(MergeView):
    model = Company

    @staticmethod
    def merge_service(**kwargs):
        return services.company_merge(**kwargs)


def _last_undoable_merge(record):
    """The record's latest merge entry if it can still be undone, else None."""
    from pulse.audit.models import Action, AuditEntry

    entry = (
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(type(record), for_concrete_model=False),
            object_id=str(record.pk),
            action=Action.MERGE,
        )
        .order_by("-created_at")
        .first()
    )
    if entry is None or services.merge_undone(entry):
        return None
    merged_id = ((entry.changes or {}).get("_merge") or {}).get("merged", {}).get("id")
    if not type(record).trash.filter(pk=merged_id).exists():
        return None  # restored or purged meanwhile
    return entry


class MergeActionsView(RecordDetailView):
    """The detail page's merge buttons (loaded after the page): "Merge…" and "Undo merge"."""

    template_name = "contacts/merge_actions.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        record = self.object
        name = self.model._meta.model_name
        can_merge = can(user, "edit", self.model) and can(user, "delete", self.model)
        entry = _last_undoable_merge(record) if can_merge else None
        context.update(
            can_merge=can_merge,
            merge_url=reverse(f"contacts:{name}_merge", args=[record.pk]),
            undo_entry=entry,
            undo_name=entry.changes["_merge"]["merged"].get("repr", "") if entry else "",
        )
        return context

    def get_template_names(self):
        return [self.template_name]


class ContactMergeActionsView(MergeActionsView):
    model = Contact


class CompanyMergeActionsView(MergeActionsView):
    model = Company


class MergeUndoView(OrganizationRequiredMixin, View):
    """POST: undo a merge (its change log entry): both records back as they were."""

    def post(self, request, entry):
        from pulse.audit.models import Action, AuditEntry

        found = AuditEntry.objects.filter(pk=entry, action=Action.MERGE).first()
        model = found.content_type.model_class() if found else None
        if model not in (Contact, Company):
            raise Http404
        survivor = model.objects.restrict(request.user, "view").filter(pk=found.object_id).first()
        if survivor is None:
            raise Http404
        try:
            result = services.merge_undo(entry=found, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(survivor.get_absolute_url())
        messages.success(
            request,
            _("Merge undone: “%(name)s” is back.") % {"name": result.merged},
        )
        return HttpResponseRedirect(result.survivor.get_absolute_url())


# --- records: relationships between contacts, the contact picker (H1) ----------------------


class ContactOptionsView(OptionsView):
    """JSON contacts for the contact picker (``RemoteSelect``), e.g. "Add relationship"."""

    model = Contact
    search_fields = ("first_name", "last_name", "email")
    order = ("last_name", "first_name", "email")


def _relationship_context(view, contact) -> dict:
    """Both sides of the contact's relationships, worded from this contact, and the dialog."""
    from django.db.models import Q

    from .forms import ContactRelationshipForm

    user = view.request.user
    rows = (
        ContactRelationship.objects.restrict(user, "view")
        .filter(Q(from_contact=contact) | Q(to_contact=contact))
        .select_related("from_contact", "to_contact")
    )
    relationships = sorted(
        (
            {"relationship": r, "label": r.label_for(contact), "other": r.other(contact)}
            for r in rows
        ),
        key=lambda item: (item["label"], str(item["other"]).casefold()),
    )
    can_add = can(user, "create", ContactRelationship) and can(user, "view", Contact)
    return {
        "relationships": relationships,
        "can_add_relationship": can_add,
        "can_remove_relationship": can(user, "delete", ContactRelationship),
        "relationship_form": ContactRelationshipForm(request=view.request, contact=contact)
        if can_add
        else None,
    }


class ContactRelationshipCreateView(RecordPermissionMixin, View):
    """ "Add relationship" of the contact ``pk``: the dialog's form (a page without script).

    ``model`` is ``Contact``: the URL names the contact, which must be visible.
    """

    model = Contact
    action = "view"
    template_name = "contacts/relationship_form.html"
    partial_template_name = "contacts/partials/relationship_form.html"

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and getattr(request, "organization", None) is not None
            and not can(request.user, "create", ContactRelationship)
        ):
            raise PermissionDenied(_("Your role does not allow this."))
        return super().dispatch(request, *args, **kwargs)

    def _contact(self, pk):
        contact = self.get_queryset().filter(pk=pk).first()
        if contact is None:
            raise Http404
        return contact

    def _render(self, form, contact, status=200):
        htmx = getattr(self.request, "htmx", False)
        template = self.partial_template_name if htmx else self.template_name
        in_modal = htmx and self.request.POST.get("in_modal") == "1"
        context = {"form": form, "contact": contact, "object": contact, "in_modal": in_modal}
        return render(self.request, template, context, status=status)

    def get(self, request, pk):
        from .forms import ContactRelationshipForm

        contact = self._contact(pk)
        return self._render(ContactRelationshipForm(request=request, contact=contact), contact)

    def post(self, request, pk):
        from .forms import ContactRelationshipForm

        contact = self._contact(pk)
        form = ContactRelationshipForm(data=request.POST, request=request, contact=contact)
        if form.is_valid():
            try:
                services.contact_relationship_create(
                    org=request.organization, actor=request.user, **form.service_fields()
                )
            except ApplicationError as exc:
                form.add_application_error(exc)
            else:
                messages.success(request, _("Relationship added."))
                url = contact.get_absolute_url()
                if getattr(request, "htmx", False):
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = url
                    return response
                return HttpResponseRedirect(url)
        # htmx swaps only 2xx answers into the dialog; a plain page says 400.
        return self._render(form, contact, status=200 if getattr(request, "htmx", False) else 400)


class ContactRelationshipDeleteView(RecordPermissionMixin, View):
    """POST: remove a relationship (to the trash); back to the page it was removed on."""

    model = ContactRelationship
    action = "delete"

    def post(self, request, pk):
        relationship = self.get_queryset().select_related("from_contact").filter(pk=pk).first()
        if relationship is None:
            raise Http404
        services.contact_relationship_delete(relationship=relationship, actor=request.user)
        messages.success(request, _("Relationship removed."))
        return HttpResponseRedirect(
            _safe_next(request, relationship.from_contact.get_absolute_url())
        )
